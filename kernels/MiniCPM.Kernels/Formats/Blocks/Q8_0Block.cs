using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>Q8_0, 34 bytes: <c>d</c> (f16), 32 × int8 quants; y = q·d.</summary>
internal struct Q8_0Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 34;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        ReadOnlySpan<byte> qs = block.Slice(2, 32);
        for (int j = 0; j < 32; j++)
            y[j] = (sbyte)qs[j] * d;
    }

    /// <summary>
    /// ggml's <c>quantize_row_q8_0_ref</c>: d = amax/127 (stored as f16), q = roundf(x·(1/d)) with ties away from
    /// zero. The quants use the float32 d, not its f16 rounding, exactly as ggml does.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0f;
        for (int j = 0; j < 32; j++)
            amax = CConversions.Max(amax, MathF.Abs(x[j]));

        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));

        Span<byte> qs = block.Slice(2, 32);
        for (int j = 0; j < 32; j++)
            qs[j] = (byte)(sbyte)CConversions.RoundHalfAwayFromZero(x[j] * id);
    }
}
