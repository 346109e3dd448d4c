using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>Q4_K and Q6_K blocks built by hand, against dots worked out here (the random-weight cases of every block
/// format are in <see cref="QuantizedMatMulTests"/>).</summary>
public sealed class KQuantMatMulTests
{
    /// <summary>
    /// Hand-built blocks checked against values worked out here, not through the Dequantizer, with x = 1, 2, …, 256.
    /// Q4_K: d = 0.5, dmin = 0.25; every sub-block has scale 1 and min 0 except sub-block 5 (scale 17: its top two
    /// bits live in byte 1) and sub-block 7 (min 35: low nibble 3 in byte 11, top bits 2 in byte 7); quant byte l of
    /// each group holds l mod 16 (low nibble, sub-block 2g) and 15 − l mod 16 (high nibble, sub-block 2g+1).
    /// Q6_K: d = 0.25, every quant 48 − 32 = 16 (ql = 0, qh = 0xFF), and the 16 scales −8..7 cover elements in
    /// runs of 16. All values and partial sums are small multiples of 1/4: exact in float32.
    /// </summary>
    [Fact]
    public void HandBuiltBlocksGiveTheHandComputedDot()
    {
        float[] x = Enumerable.Range(1, 256).Select(i => (float)i).ToArray();

        var q4 = new byte[144];
        BitConverter.TryWriteBytes(q4.AsSpan(0, 2), (Half)0.5f);
        BitConverter.TryWriteBytes(q4.AsSpan(2, 2), (Half)0.25f);
        byte[] scaleBytes = [1, 1 | 0x40, 1, 1, 0, 0, 0, 0x80, 0x01, 0x01, 0x01, 0x31];
        scaleBytes.CopyTo(q4, 4);
        for (int group = 0; group < 4; group++)
            for (int l = 0; l < 32; l++)
                q4[16 + 32 * group + l] = (byte)(l % 16 | (15 - l % 16) << 4);
        int[] subScale = [1, 1, 1, 1, 1, 17, 1, 1], subMin = [0, 0, 0, 0, 0, 0, 0, 35];
        double expected4 = 0;
        for (int e = 0; e < 256; e++)
        {
            int sub = e / 32, l = e % 32;
            int q = sub % 2 == 0 ? l % 16 : 15 - l % 16;
            expected4 += (0.5 * subScale[sub] * q - 0.25 * subMin[sub]) * x[e];
        }

        var q6 = new byte[210];
        q6.AsSpan(128, 64).Fill(0xFF);
        for (int i = 0; i < 16; i++) q6[192 + i] = (byte)(sbyte)(i - 8);
        BitConverter.TryWriteBytes(q6.AsSpan(208, 2), (Half)0.25f);
        double expected6 = 0;
        for (int e = 0; e < 256; e++) expected6 += 0.25 * (e / 16 - 8) * 16 * x[e];

        Assert.Equal(expected4, QuantTestWeights.MatVec1(TensorType.Q4_K, q4, x));
        Assert.Equal(expected6, QuantTestWeights.MatVec1(TensorType.Q6_K, q6, x));
    }
}
