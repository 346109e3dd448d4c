using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Test weights of any block-quantized type made of random bytes — every bit pattern of quants, scales and mins is a
/// valid block — with the f16 block scales overwritten by small finite values of either sign (random bytes there
/// would give NaN/Inf). Corner blocks per row: all scales zero; every other bit set (quants and sub-scales at their
/// maximum); every other bit clear. Rows get different magnitudes.
/// </summary>
internal static class RandomQuantBlocks
{
    public static readonly TensorType[] AllTypes =
    [
        TensorType.Q4_0, TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1, TensorType.Q8_0,
        TensorType.Q2_K, TensorType.Q3_K, TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K,
    ];

    /// <summary>Byte offsets of the f16 scale fields in one block (ggml's layouts, checkpoint-formats.md §9).</summary>
    public static int[] ScaleOffsets(TensorType type) => type switch
    {
        TensorType.Q4_0 or TensorType.Q5_0 or TensorType.Q8_0 => [0],
        TensorType.Q4_1 or TensorType.Q5_1 or TensorType.Q4_K or TensorType.Q5_K => [0, 2],
        TensorType.Q2_K => [80, 82],
        TensorType.Q3_K => [108],
        TensorType.Q6_K => [208],
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static QuantTestWeights Weights(TensorType type, int rows, int cols, Random random)
    {
        int blockBytes = type.BlockBytes();
        int blocks = cols / type.BlockElements();
        int[] offsets = ScaleOffsets(type);
        return new QuantTestWeights(type, rows, cols, random, (r, row) =>
        {
            double magnitude = Math.Pow(10, random.Next(-4, 0));
            for (int b = 0; b < blocks; b++) SetScales(row.Slice(b * blockBytes, blockBytes), offsets, random, magnitude);
            var corner = row.Slice((r + random.Next(blocks)) % blocks * blockBytes, blockBytes);
            switch (r % 4)
            {
                case 0:
                    foreach (int o in offsets) BitConverter.TryWriteBytes(corner.Slice(o, 2), Half.Zero);
                    break;
                case 1:
                    corner.Fill(0xFF);
                    SetScales(corner, offsets, random, magnitude);
                    break;
                case 2:
                    corner.Clear();
                    SetScales(corner, offsets, random, magnitude);
                    break;
            }
        });
    }

    private static void SetScales(Span<byte> block, int[] offsets, Random random, double magnitude)
    {
        foreach (int o in offsets)
            BitConverter.TryWriteBytes(block.Slice(o, 2), (Half)(magnitude * (0.5 + random.NextDouble() / 2) * (random.Next(2) == 0 ? -1 : 1)));
    }
}
