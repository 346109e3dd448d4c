using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Vision;

/// <summary>
/// The simulator runs kernels as .NET code, so it cannot tell whether ILGPU's PTX backend accepts them. This compiles
/// the vision kernels to PTX for SM_90 with the device's context settings — no GPU or driver needed — and checks that
/// nothing lands in local memory (the online-softmax state passed by reference must stay in registers).
/// </summary>
public sealed class VisionPtxTests
{
    [Theory]
    [InlineData(typeof(DenseAttentionKernel), true)]
    [InlineData(typeof(PatchUnfoldKernel), false)]
    [InlineData(typeof(GridPositionKernel), false)]
    public void CompilesToPtxWithoutLocalMemory(Type kernel, bool explicitlyGrouped)
    {
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2).Math(MathMode.Fast32BitOnly).EnableAlgorithms().Cuda());
        var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null!); // no NVVM: ILGPU's own PTX generator
        MethodInfo method = kernel.GetMethod("Kernel")!;
        var entry = explicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var specialization = new KernelSpecialization();
        var compiled = (PTXCompiledKernel)backend.Compile(entry, specialization);
        Assert.Contains(".entry", compiled.PTXAssembly);
        Assert.DoesNotContain(".local", compiled.PTXAssembly);
    }
}
