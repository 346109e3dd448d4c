using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The K-quant scale look-ups the GPU row formats do without branches (masks instead of conditionals, so the lanes of
/// a warp holding different sub-blocks do not diverge), against the packings as ggml defines them, written here the
/// plain way, over every sub-block of random scale bytes. Host-side: the look-ups are plain C#.
/// </summary>
public sealed class ScaleUnpackingTests
{
    [Fact]
    public void SelectAndWordAtPickWithoutConditionals()
    {
        var words = new UInt4 { X = 0x11111111, Y = 0x22222222, Z = 0x33333333, W = 0x44444444 };
        Assert.Equal(0xAAAAAAAAu, Bits.Select(0xAAAAAAAA, 0x55555555, 0));
        Assert.Equal(0x55555555u, Bits.Select(0xAAAAAAAA, 0x55555555, 1));
        Assert.Equal([words.X, words.Y, words.Z, words.W], Enumerable.Range(0, 4).Select(i => Bits.WordAt(words, i)));
        var bytes = RandomWords(new Random(3));
        var plain = Bytes(bytes);
        for (int i = 0; i < 16; i++) Assert.Equal(plain[i], Bits.ByteAt(bytes, i));
    }

    /// <summary>Q4_K/Q5_K (get_scale_min_k4): scales are bytes 4..15 of the super-block's first 16-byte word.</summary>
    [Fact]
    public void Q4_KScaleAndMinMatchGgmlsPacking()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            var head = RandomWords(random);
            byte[] scales = Bytes(head)[4..];
            for (int j = 0; j < 8; j++)
            {
                int scale, min;
                if (j < 4)
                {
                    scale = scales[j] & 63;
                    min = scales[j + 4] & 63;
                }
                else
                {
                    scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
                    min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
                }
                Q4_KRows.ScaleMin(head, j, out int gpuScale, out int gpuMin);
                Assert.Equal((scale, min), (gpuScale, gpuMin));
            }
        }
    }

    /// <summary>Q3_K: sixteen 6-bit scales (stored +32) in 12 bytes: low nibbles of bytes 0..7 for j &lt; 8, their high
    /// nibbles for j ≥ 8, and 2 bits each from bytes 8..11 on top.</summary>
    [Fact]
    public void Q3_KScalesMatchGgmlsPacking()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 200; trial++)
        {
            var head = RandomWords(random);
            byte[] packed = Bytes(head)[4..];
            for (int j = 0; j < 16; j++)
            {
                int low = j < 8 ? packed[j] & 0x0F : packed[j - 8] >> 4;
                int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
                Assert.Equal(low | (high << 4), Q3_KRows.Scale(head, j));
            }
        }
    }

    private static UInt4 RandomWords(Random random) =>
        new() { X = (uint)random.NextInt64(1L << 32), Y = (uint)random.NextInt64(1L << 32), Z = (uint)random.NextInt64(1L << 32), W = (uint)random.NextInt64(1L << 32) };

    private static byte[] Bytes(UInt4 words) =>
        [.. new[] { words.X, words.Y, words.Z, words.W }.SelectMany(BitConverter.GetBytes)];
}
