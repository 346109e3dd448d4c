using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The per-dtype entry points of the int8-activation kernels (see <see cref="ActivationPrecision.Int8"/>): which
/// activation blocks the type wants (Q8_0/Q8_1 of 32, or Q8_K of 256) and its row-dot shapes.
/// </summary>
internal readonly unsafe struct Int8RowKernels
{
    /// <summary>(weight row, activations, cols) → row · activations.</summary>
    public readonly delegate*<byte*, Int8Vector*, int, float> Dot;

    /// <summary>(first row, row stride, activations, cols, y[4]): four rows · one token; null loops over <see cref="Dot"/>.</summary>
    public readonly delegate*<byte*, long, Int8Vector*, int, float*, void> Dot4Rows;

    /// <summary>(first row, row stride, four tokens' activations, cols, y, y stride): two rows · four tokens.</summary>
    public readonly delegate*<byte*, long, Int8Vector*, int, float*, long, void> Dot2Rows4Tokens;

    /// <summary>Whether the activations are Q8_K blocks of 256 (the K types) rather than blocks of 32.</summary>
    public readonly bool KBlocks;

    private Int8RowKernels(delegate*<byte*, Int8Vector*, int, float> dot, delegate*<byte*, long, Int8Vector*, int, float*, void> dot4Rows,
        delegate*<byte*, long, Int8Vector*, int, float*, long, void> dot2Rows4Tokens, bool kBlocks)
    {
        Dot = dot;
        Dot4Rows = dot4Rows;
        Dot2Rows4Tokens = dot2Rows4Tokens;
        KBlocks = kBlocks;
    }

    /// <summary>Whether <paramref name="type"/> has int8 kernels on this CPU.</summary>
    public static bool Supports(TensorType type) => ByteDot.IsSupported && type is TensorType.Q4_0 or TensorType.Q4_1
        or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q8_0 or TensorType.Q2_K or TensorType.Q3_K or TensorType.Q4_K
        or TensorType.Q5_K or TensorType.Q6_K;

    public static Int8RowKernels For(TensorType type) => type switch
    {
        TensorType.Q4_0 => Blocks<Q4_0Int8>(),
        TensorType.Q4_1 => Blocks<Q4_1Int8>(),
        TensorType.Q5_0 => Blocks<Q5_0Int8>(),
        TensorType.Q5_1 => Blocks<Q5_1Int8>(),
        TensorType.Q8_0 => Blocks<Q8_0Int8>(),
        TensorType.Q2_K => KQuants<Q2_KInt8>(),
        TensorType.Q3_K => KQuants<Q3_KInt8>(),
        TensorType.Q4_K => KQuants<Q4_KInt8>(),
        TensorType.Q5_K => KQuants<Q5_KInt8>(),
        TensorType.Q6_K => KQuants<Q6_KInt8>(),
        _ => throw new NotSupportedException($"{type} weights have no int8-activation kernels"),
    };

    private static Int8RowKernels Blocks<T>() where T : IInt8Blocks => new(
        &Int8BlockDotKernels<T>.Dot, &Int8BlockDotKernels<T>.Dot4Rows, &Int8BlockDotKernels<T>.Dot2Rows4Tokens, kBlocks: false);

    private static Int8RowKernels KQuants<T>() where T : IKInt8Blocks => new(
        &KInt8DotKernels<T>.Dot, null, &KInt8DotKernels<T>.Dot2Rows4Tokens, kBlocks: true);
}
