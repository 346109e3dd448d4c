using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Gpu.Tests;

/// <summary>
/// Kernels compiled to PTX for SM_90 with the device's context settings and ILGPU's own PTX generator — no GPU or
/// driver needed. The simulator runs kernels as .NET code, so only this shows that the CUDA backend accepts them and
/// what lands in registers, shared or local memory.
/// </summary>
internal static class Ptx
{
    public static string Compile(EntryPointDescription entry)
    {
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2).Math(MathMode.Default).EnableAlgorithms().Cuda());
        var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
        Assert.Contains(".entry", compiled.PTXAssembly);
        return compiled.PTXAssembly;
    }

    /// <summary>A kernel launched with an explicit group size (<c>KernelConfig</c>).</summary>
    public static string Grouped(MethodInfo kernel) => Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel));

    /// <summary>A kernel launched over an index (auto-grouped).</summary>
    public static string Indexed(MethodInfo kernel) => Compile(EntryPointDescription.FromImplicitlyGroupedKernel(kernel));
}
