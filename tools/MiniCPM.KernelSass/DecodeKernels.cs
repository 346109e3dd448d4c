using System.Reflection;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.KernelSass;

/// <summary>A kernel as the device compiles it: a name for the files and the table, the closed method, its launch kind.</summary>
/// <param name="WeightBytesPerIteration">For the int8 matvecs: the weight bytes one warp's loop iteration streams (two rows,
/// one 32-value block each per lane), from which Program prints the bandwidth the loop could reach if issue were the
/// only limit.</param>
internal sealed record KernelEntry(string Name, MethodInfo Method, bool ExplicitlyGrouped, double? WeightBytesPerIteration = null);

/// <summary>The kernels of a quantized decode step: the int8 matrix-vector kernel for every int8 weight format (plain,
/// and for Q4_0 with the RoPE epilogue and the RMSNorm tail), split-K attention and its merge, the fused int8 producers,
/// the float matrix kernel on F16 and Q4_0, and the sampled step's top-k candidates; and for prefill and the encoders, the tiled
/// and tensor-core matrix kernels on F16 and Q4_0.</summary>
internal static class DecodeKernels
{
    private static readonly Type[] Int8Formats =
    [
        typeof(Q4_0Rows), typeof(Q4_1Rows), typeof(Q5_0Rows), typeof(Q5_1Rows), typeof(Q8_0Rows),
        typeof(Q2_KRows), typeof(Q3_KRows), typeof(Q4_KRows), typeof(Q5_KRows), typeof(Q6_KRows),
    ];

    public static IEnumerable<KernelEntry> All()
    {
        foreach (var format in Int8Formats)
            yield return Int8MatVec(format, typeof(RowPairStore), $"int8-matvec-{Short(format)}");
        yield return Int8MatVec(typeof(Q4_0Rows), typeof(RopeCacheOutput), "int8-matvec-Q4_0-rope-cache");
        yield return new KernelEntry("int8-matvec-Q4_0-rmsnorm-tail",
            Method(typeof(Int8MatVecKernel), nameof(Int8MatVecKernel.KernelThenTail))
                .MakeGenericMethod(typeof(Q4_0Rows), Int8RowFormat.WordsOf(typeof(Q4_0Rows)), typeof(RowPairStore), typeof(RmsNormTail)), true);
        yield return new KernelEntry("int8-matvec-Q4_0-swiglu-tail",
            Method(typeof(Int8MatVecKernel), nameof(Int8MatVecKernel.KernelThenTail))
                .MakeGenericMethod(typeof(Q4_0Rows), Int8RowFormat.WordsOf(typeof(Q4_0Rows)), typeof(RowPairStore), typeof(SwiGluInt8Tail)), true);
        yield return new KernelEntry("split-attention", Method(typeof(SplitAttentionKernel), nameof(SplitAttentionKernel.Kernel)), true);
        yield return new KernelEntry("split-attention-merge-int8", Method(typeof(SplitAttentionKernel), nameof(SplitAttentionKernel.MergeInt8)), true);
        yield return new KernelEntry("split-attention-then-merge", Method(typeof(SplitAttentionKernel), nameof(SplitAttentionKernel.KernelThenMerge)), true);
        yield return new KernelEntry("rmsnorm-int8", Method(typeof(NormKernels), nameof(NormKernels.RmsNormInt8)), true);
        yield return new KernelEntry("silu-mul-int8", Method(typeof(ElementwiseKernels), nameof(ElementwiseKernels.SiluMulFusedInt8)), true);
        yield return new KernelEntry("logit-candidates", Method(typeof(LogitCandidatesKernel), nameof(LogitCandidatesKernel.Kernel)), true);
        foreach (var format in new[] { typeof(F16Rows), typeof(Q4_0Rows) })
            yield return new KernelEntry($"matvec-{Short(format)}",
                Method(typeof(MatMulKernel), nameof(MatMulKernel.Kernel)).MakeGenericMethod(format, typeof(RowPairStore)), true);
        // The bench's compute ceilings.
        yield return new KernelEntry("peak-fma", Method(typeof(PeakKernels), nameof(PeakKernels.Fma)), false);
        yield return new KernelEntry("peak-mma", Method(typeof(PeakKernels), nameof(PeakKernels.Mma)).MakeGenericMethod(typeof(Tf32MmaInstruction)), true);
        // Prefill and the encoders (not decode, but the same tool answers the same questions for them).
        foreach (var format in new[] { typeof(F16Rows), typeof(Q4_0Rows) })
        {
            yield return new KernelEntry($"tiled-matmul-{Short(format)}",
                Method(typeof(TiledMatMulKernel), nameof(TiledMatMulKernel.Kernel)).MakeGenericMethod(format), true);
            yield return new KernelEntry($"tensor-core-matmul-{Short(format)}",
                Method(typeof(TensorCoreMatMulKernel), nameof(TensorCoreMatMulKernel.Kernel)).MakeGenericMethod(format, typeof(Tf32MmaInstruction)), true);
        }
    }

    private static KernelEntry Int8MatVec(Type format, Type output, string name) =>
        new(name, Method(typeof(Int8MatVecKernel), nameof(Int8MatVecKernel.Kernel)).MakeGenericMethod(format, Int8RowFormat.WordsOf(format), output), true,
            WarpBytes(format));

    /// <summary>32 lanes × 2 rows × the bytes of 32 values of <paramref name="format"/>'s tensor type.</summary>
    private static double WarpBytes(Type format)
    {
        var type = Enum.Parse<TensorType>(Short(format));
        return 32 * 2 * 32.0 * type.BlockBytes() / type.BlockElements();
    }

    private static MethodInfo Method(Type type, string name) =>
        type.GetMethod(name, BindingFlags.Public | BindingFlags.Static) ?? throw new MissingMethodException(type.Name, name);

    private static string Short(Type format) => format.Name.Replace("Rows", "", StringComparison.Ordinal);
}
