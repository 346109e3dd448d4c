using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>Random block-quantized matrices that reach each format's corners, for the quantized matrix-product tests.</summary>
internal static class RandomQuantWeights
{
    public static QuantTestWeights For(TensorType type, int rows, int cols, Random random) =>
        type is TensorType.Q4_K or TensorType.Q6_K ? KQuant(type, rows, cols, random) : Legacy(type, rows, cols, random);

    /// <summary>
    /// Rows of random floats quantized with <see cref="BlockQuantizer"/>, with blocks chosen to reach the format's
    /// corners: an all-zero block (d = 0), a block whose largest value is negative (d of the other sign), and one
    /// with values at ±max so quants hit their extremes (Q8_0 ±127; Q4_0 0 and 15). Rows are padded so a kernel that
    /// reads past a row's end meets junk.
    /// </summary>
    public static QuantTestWeights Legacy(TensorType type, int rows, int cols, Random random)
    {
        var source = new float[cols];
        return new QuantTestWeights(type, rows, cols, random, (r, row) =>
        {
            double scale = Math.Pow(10, random.Next(-3, 2)); // rows of different magnitudes
            for (int c = 0; c < cols; c++) source[c] = (float)(scale * (random.NextDouble() * 2 - 1));
            int blocks = cols / 32;
            int special = (r + random.Next(blocks)) % blocks;
            switch (r % 4)
            {
                case 0: source.AsSpan(special * 32, 32).Clear(); break;
                case 1: source[special * 32 + 7] = (float)(-3 * scale); break;
                case 2:
                    for (int j = 0; j < 32; j++) source[special * 32 + j] = (float)(j % 2 == 0 ? scale : -scale);
                    break;
            }
            BlockQuantizer.Quantize(type, source, row);
        });
    }

    /// <summary>
    /// Rows of K-quant blocks made of random bytes (every bit pattern of the quants, scales and mins is a valid
    /// block) with the f16 super-block scales overwritten by small finite values of either sign, a different magnitude
    /// per row. Corner blocks: d = dmin = 0; all quant and scale bits set (Q4_K: q = 15, sc = m = 63; Q6_K: q = 31,
    /// scale −1); all clear (Q6_K: q = −32, scale 0). Rows are padded with junk a kernel must not read.
    /// </summary>
    public static QuantTestWeights KQuant(TensorType type, int rows, int cols, Random random)
    {
        int blockBytes = type.BlockBytes();
        int blocks = cols / 256;
        return new QuantTestWeights(type, rows, cols, random, (r, row) =>
        {
            double magnitude = Math.Pow(10, random.Next(-4, 0));
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * blockBytes, blockBytes);
                SetScales(type, block, RandomScale(random, magnitude), RandomScale(random, magnitude));
            }
            var corner = row.Slice((r + random.Next(blocks)) % blocks * blockBytes, blockBytes);
            switch (r % 4)
            {
                case 0: SetScales(type, corner, Half.Zero, Half.Zero); break;
                case 1:
                    corner.Fill(0xFF);
                    SetScales(type, corner, RandomScale(random, magnitude), RandomScale(random, magnitude));
                    break;
                case 2:
                    corner.Clear();
                    SetScales(type, corner, RandomScale(random, magnitude), RandomScale(random, magnitude));
                    break;
            }
        });
    }

    private static Half RandomScale(Random random, double magnitude) =>
        (Half)(magnitude * (0.5 + random.NextDouble() / 2) * (random.Next(2) == 0 ? -1 : 1));

    /// <summary>Q4_K keeps d and dmin in its first four bytes; Q6_K keeps d in its last two.</summary>
    private static void SetScales(TensorType type, Span<byte> block, Half d, Half dmin)
    {
        if (type == TensorType.Q4_K)
        {
            BitConverter.TryWriteBytes(block[..2], d);
            BitConverter.TryWriteBytes(block.Slice(2, 2), dmin);
        }
        else BitConverter.TryWriteBytes(block[208..], d);
    }
}
