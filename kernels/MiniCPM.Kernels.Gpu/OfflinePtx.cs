using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Kernels compiled to PTX with no GPU or driver: ILGPU's own PTX generator under the settings every
/// <see cref="GpuDevice"/> opens with, so the text is what a CUDA device would be handed. The tests read it for what
/// lands in registers, shared or local memory; tools/MiniCPM.KernelSass hands it to ptxas for the machine code.
/// </summary>
public static class OfflinePtx
{
    /// <summary>
    /// The context settings of every device. IEEE division, square root and reciprocal (div.rn, sqrt.rn), as the CPU
    /// backend computes them: under ILGPU's fast math 127/127 came out 0.99999994 on an H200 and moved int8 quants at
    /// exact ties (the norms' 1/√ too). It costs a few instructions per row, none in the matrix loops; exp stays
    /// ex2.approx.
    /// </summary>
    internal static Context.Builder Configure(Context.Builder builder) =>
        builder.Optimize(OptimizationLevel.O2).Math(MathMode.Default).EnableAlgorithms();

    /// <summary>The PTX of <paramref name="kernel"/> (a closed generic method) for <paramref name="architecture"/>
    /// (SM_90 unless given); <paramref name="explicitlyGrouped"/>: launched with a <c>KernelConfig</c>, else over an index.</summary>
    public static string Compile(MethodInfo kernel, bool explicitlyGrouped, CudaArchitecture? architecture = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        using var context = Context.Create(builder => Configure(builder).Cuda());
        var backend = new PTXBackend(context, architecture ?? CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var entry = explicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        return ((PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization())).PTXAssembly;
    }
}
