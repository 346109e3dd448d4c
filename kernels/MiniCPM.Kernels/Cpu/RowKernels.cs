using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The per-dtype entry points the matrix kernels dispatch to. <see cref="Dot"/> is all a weight type must provide;
/// the two multi-row shapes are optional fast paths (null means "loop over <see cref="Dot"/>"). A new weight type —
/// a quantized block format, say — adds its row-dot function and one line in <see cref="For"/>.
/// </summary>
internal readonly unsafe struct RowKernels
{
    /// <summary>(weight row, activations, cols) → row · activations.</summary>
    public readonly delegate*<byte*, float*, int, float> Dot;

    /// <summary>
    /// (first row, row stride, activations, cols, y[4]): four rows, <c>row stride</c> bytes apart, · one vector —
    /// given in the <see cref="PairSplit"/> layout when <see cref="Dot4RowsSplitsPairs"/>.
    /// </summary>
    public readonly delegate*<byte*, long, float*, int, float*, void> Dot4Rows;

    /// <summary>Whether <see cref="Dot4Rows"/> reads its activations in the <see cref="PairSplit"/> layout.</summary>
    public readonly bool Dot4RowsSplitsPairs;

    /// <summary>(first row, row stride, x, x stride, cols, y, y stride): two rows · four activation vectors.</summary>
    public readonly delegate*<byte*, long, float*, long, int, float*, long, void> Dot2Rows4Tokens;

    public RowKernels(
        delegate*<byte*, float*, int, float> dot,
        delegate*<byte*, long, float*, int, float*, void> dot4Rows = null,
        delegate*<byte*, long, float*, long, int, float*, long, void> dot2Rows4Tokens = null,
        bool dot4RowsSplitsPairs = false)
    {
        Dot = dot;
        Dot4Rows = dot4Rows;
        Dot4RowsSplitsPairs = dot4RowsSplitsPairs;
        Dot2Rows4Tokens = dot2Rows4Tokens;
    }

    public static RowKernels For(TensorType type) => type switch
    {
        TensorType.F32 => FloatKernels<F32Weights>(),
        TensorType.F16 => FloatKernels<F16Weights>(),
        TensorType.BF16 => FloatKernels<BF16Weights>(),
        TensorType.Q8_0 => QuantKernels<Q8_0Blocks>(),
        TensorType.Q4_0 => QuantKernels<Q4_0Blocks>(),
        TensorType.Q4_1 => new(&BlockFloatDotKernels<Q4_1Int8>.Dot),
        TensorType.Q5_0 => new(&BlockFloatDotKernels<Q5_0Int8>.Dot),
        TensorType.Q5_1 => new(&BlockFloatDotKernels<Q5_1Int8>.Dot),
        TensorType.Q2_K => new(&KFloatDotKernels<Q2_KInt8>.Dot),
        TensorType.Q3_K => new(&KFloatDotKernels<Q3_KInt8>.Dot),
        TensorType.Q4_K => new(&Q4_KDotKernels.Dot),
        TensorType.Q5_K => new(&KFloatDotKernels<Q5_KInt8>.Dot),
        TensorType.Q6_K => new(&Q6_KDotKernels.Dot),
        _ => throw new NotSupportedException($"matrix products with {type} weights are not implemented on the CPU backend"),
    };

    public static bool Supports(TensorType type) => type is TensorType.F32 or TensorType.F16 or TensorType.BF16 or TensorType.Q8_0 or TensorType.Q4_0
        or TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q2_K or TensorType.Q3_K or TensorType.Q4_K
        or TensorType.Q5_K or TensorType.Q6_K;

    private static RowKernels FloatKernels<TWeights>() where TWeights : IFloatWeights => new(
        &FloatDotKernels<TWeights>.Dot,
        &FloatDotKernels<TWeights>.Dot4Rows,
        &FloatDotKernels<TWeights>.Dot2Rows4Tokens,
        TWeights.SplitsPairs);

    private static RowKernels QuantKernels<TBlocks>() where TBlocks : IQuantBlocks => new(
        &QuantDotKernels<TBlocks>.Dot,
        &QuantDotKernels<TBlocks>.Dot4Rows);
}
