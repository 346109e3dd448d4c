using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The decode kernels this change touched (fused int8 producers, the quantizer they share, the matrix kernels with
/// butterfly reductions) compiled to PTX for SM_90 without a GPU, as <see cref="Vision.VisionPtxTests"/> does: ILGPU's
/// PTX backend accepts them and the selects of the butterfly stay in registers (no local memory; the int8 kernel's only
/// local slots are the dp4a results, see below).
/// </summary>
public sealed class DecodePtxTests
{
    public static TheoryData<string> Kernels => new()
    {
        nameof(NormKernels.RmsNormInt8), nameof(ElementwiseKernels.SiluMulFusedInt8), "Quantize", "MatMul", "Int8MatVec",
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtxWithoutLocalMemory(string name)
    {
        (MethodInfo method, bool explicitlyGrouped) = name switch
        {
            nameof(NormKernels.RmsNormInt8) => (typeof(NormKernels).GetMethod(name)!, true),
            nameof(ElementwiseKernels.SiluMulFusedInt8) => (typeof(ElementwiseKernels).GetMethod(name)!, false),
            "Quantize" => (typeof(Int8Quantizer).GetMethod("Kernel")!, false),
            "MatMul" => (typeof(MatMulKernel).GetMethod("Kernel")!.MakeGenericMethod(typeof(Q4_0Rows)), true),
            _ => (typeof(Int8MatVecKernel).GetMethod("Kernel")!.MakeGenericMethod(typeof(Q4_0Rows)), true),
        };
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2).Math(MathMode.Fast32BitOnly).EnableAlgorithms().Cuda());
        var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var entry = explicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
        Assert.Contains(".entry", compiled.PTXAssembly);
        var lines = compiled.PTXAssembly.Split('\n');
        var local = lines.Where(l => l.Contains(".local .align")).ToArray(); // every local allocation is declared so
        if (name == "Int8MatVec")
        {
            // The one exception, older than this change: ILGPU passes CudaAsm.Emit's out operand through a 4-byte
            // local slot, one per dp4a (a store and a load ptxas can keep in a register); nothing else is local.
            int dp4a = lines.Count(l => l.TrimStart().StartsWith("dp4a"));
            Assert.Equal(16, dp4a); // two rows × eight per Q4_0 block
            Assert.Equal(dp4a, local.Length);
            Assert.All(local, l => Assert.EndsWith("[4];", l.Trim()));
        }
        else Assert.Empty(local);
        if (name is "MatMul" or "Int8MatVec") Assert.Contains("shfl", compiled.PTXAssembly);
    }
}
