using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>
/// BlockQuantizer against ggml's reference quantizers: exact bytes for small hand-worked blocks, and error bounds
/// on quantize → dequantize round trips over varied random data.
/// </summary>
public class QuantizerTests
{
    private static byte[] Quantize(TensorType type, float[] x)
    {
        var bytes = new byte[x.Length / type.BlockElements() * type.BlockBytes()];
        BlockQuantizer.Quantize(type, x, bytes);
        return bytes;
    }

    private static float[] Block(params (int Index, float Value)[] values)
    {
        var x = new float[32];
        foreach (var (i, v) in values) x[i] = v;
        return x;
    }

    // ------------------------------------------------------------------ exact bytes

    [Fact]
    public void Q8_0_bytes_for_a_hand_worked_block()
    {
        // amax = 127 → d = 1 (f16 0x3C00), 1/d = 1; roundf rounds ties away from zero: −63.5 → −64, 2.5 → 3, −2.5 → −3.
        float[] x = Block((0, 127f), (1, -63.5f), (2, 2.5f), (3, -0.5f), (4, 0.49f), (5, -2.5f));
        byte[] expected = new byte[34];
        expected[0] = 0x00; expected[1] = 0x3C;
        expected[2] = 0x7F; expected[3] = 0xC0; expected[4] = 0x03; expected[5] = 0xFF; expected[6] = 0x00; expected[7] = 0xFD;
        Assert.Equal(expected, Quantize(TensorType.Q8_0, x));
    }

    [Fact]
    public void Q8_0_stores_d_rounded_to_half_but_quantizes_with_the_float_d()
    {
        // d = 1/127 = 2^-7 · 1.00787…: the f16 mantissa is round(0.00787·1024) = 8, exponent −7 + 15 = 8 → 0x2008.
        float[] x = Block((0, 1f), (1, -1f), (2, 0.25f));
        byte[] q = Quantize(TensorType.Q8_0, x);
        Assert.Equal(0x2008, BinaryPrimitives.ReadUInt16LittleEndian(q));
        Assert.Equal(127, (sbyte)q[2]);
        Assert.Equal(-127, (sbyte)q[3]);
        Assert.Equal(32, (sbyte)q[4]); // 0.25·127 = 31.75 → 32
    }

    [Fact]
    public void Q8_0_all_zero_block_is_all_zero_bytes()
    {
        Assert.All(Quantize(TensorType.Q8_0, new float[64]), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Q4_0_bytes_when_the_largest_magnitude_is_negative()
    {
        // x[0] = −8 is the first value of largest magnitude (x[16] = +8 ties but comes later) → max = −8, d = −8/−8 = 1.
        // q = min(15, trunc(x/d + 8.5)): −8 → 0, 7 → 15, 0 → 8, −0.5 → 8, 0.5 → 9, −2.6 → 5 (5.9), 8 → 16 → 15, 3.2 → 11.
        float[] x = Block((0, -8f), (1, 7f), (3, -0.5f), (4, 0.5f), (5, -2.6f), (16, 8f), (17, 3.2f));
        byte[] expected = new byte[18];
        expected[0] = 0x00; expected[1] = 0x3C;
        for (int j = 0; j < 16; j++) expected[2 + j] = 0x88;
        expected[2 + 0] = 0xF0; // low 0, high 15 (element 16)
        expected[2 + 1] = 0xBF; // low 15, high 11 (element 17)
        expected[2 + 4] = 0x89;
        expected[2 + 5] = 0x85;
        Assert.Equal(expected, Quantize(TensorType.Q4_0, x));
    }

    [Fact]
    public void Q4_0_bytes_when_the_largest_magnitude_is_positive()
    {
        // max = +4 → d = 4/−8 = −0.5 (f16 0xB800), 1/d = −2: 4 → trunc(−8 + 8.5) = 0; −4 → trunc(16.5) = 16 → 15;
        // 1 → trunc(6.5) = 6; −1.2 → trunc(10.9) = 10; 0 → 8.
        float[] x = Block((2, 4f), (18, -4f), (3, 1f), (19, -1.2f));
        byte[] expected = new byte[18];
        expected[0] = 0x00; expected[1] = 0xB8;
        for (int j = 0; j < 16; j++) expected[2 + j] = 0x88;
        expected[2 + 2] = 0xF0;
        expected[2 + 3] = 0xA6;
        Assert.Equal(expected, Quantize(TensorType.Q4_0, x));
    }

    [Fact]
    public void Q4_1_bytes_for_a_hand_worked_block()
    {
        // x[j] = min(j, 15) − 3: min = −3, max = 12, d = 15/15 = 1, m = −3 (f16 0xC200); q = trunc(x + 3 + 0.5) = min(j, 15).
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = Math.Min(j, 15) - 3;
        byte[] expected = new byte[20];
        expected[0] = 0x00; expected[1] = 0x3C; expected[2] = 0x00; expected[3] = 0xC2;
        for (int j = 0; j < 16; j++) expected[4 + j] = (byte)(j | 0xF0);
        Assert.Equal(expected, Quantize(TensorType.Q4_1, x));
    }

    [Fact]
    public void Q5_0_bytes_for_a_hand_worked_block()
    {
        // max = −16 → d = 1; q = min(31, trunc(x + 16.5)): −16 → 0, 15 → 31, −1 → 15, 0 → 16 (fifth bit only).
        float[] x = Block((0, -16f), (1, 15f), (17, -1f));
        byte[] expected = new byte[22];
        expected[0] = 0x00; expected[1] = 0x3C;
        uint qh = 0xFFFF_FFFFu & ~(1u << 0) & ~(1u << 17); // every q ≥ 16 except elements 0 and 17
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(2), qh);
        expected[6 + 1] = 0xFF; // low nibble of 31, high nibble 15 (element 17)
        Assert.Equal(expected, Quantize(TensorType.Q5_0, x));
    }

    [Fact]
    public void Q5_1_bytes_for_a_hand_worked_block()
    {
        // x[j] = j − 10: min = −10 (f16 0xC900), max = 21, d = 31/31 = 1; q = j.
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j - 10;
        byte[] expected = new byte[24];
        expected[0] = 0x00; expected[1] = 0x3C; expected[2] = 0x00; expected[3] = 0xC9;
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(4), 0xFFFF_0000u);
        for (int j = 0; j < 16; j++) expected[8 + j] = (byte)(j | (j << 4));
        Assert.Equal(expected, Quantize(TensorType.Q5_1, x));
    }

    [Fact]
    public void Q8_1_stores_d_times_sum_of_quants()
    {
        // d = 1; quants 127, −1, 0… → s = 126 = 1.96875·2^6 → f16 (6+15)<<10 | 992 = 0x57E0.
        byte[] q = Quantize(TensorType.Q8_1, Block((0, 127f), (1, -1f)));
        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(q));
        Assert.Equal(0x57E0, BinaryPrimitives.ReadUInt16LittleEndian(q.AsSpan(2)));
        Assert.Equal(127, (sbyte)q[4]);
        Assert.Equal(-1, (sbyte)q[5]);
    }

    [Fact]
    public void Float_targets_encode_with_ggml_rounding()
    {
        float[] x = [1f, 1.00048828125f, BitConverter.UInt32BitsToSingle(0x3F81_8000), BitConverter.UInt32BitsToSingle(0x7F80_0001)];

        byte[] f32 = Quantize(TensorType.F32, x);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(x[i]), BinaryPrimitives.ReadUInt32LittleEndian(f32.AsSpan(4 * i)));

        byte[] f16 = Quantize(TensorType.F16, x);
        Assert.Equal([0x3C00, 0x3C00, 0x3C0C, 0x7E00], Enumerable.Range(0, 4).Select(i => (int)BinaryPrimitives.ReadUInt16LittleEndian(f16.AsSpan(2 * i))));

        byte[] bf16 = Quantize(TensorType.BF16, x);
        Assert.Equal([0x3F80, 0x3F80, 0x3F82, 0x7FC0], Enumerable.Range(0, 4).Select(i => (int)BinaryPrimitives.ReadUInt16LittleEndian(bf16.AsSpan(2 * i))));
    }

    // ------------------------------------------------------------------ round trips

    /// <summary>Blocks of varied shape: gaussian-like at several magnitudes, one outlier, all-equal, mixed signs.</summary>
    private static float[] RoundTripData()
    {
        var random = new Random(20240611);
        var x = new float[32 * 48];
        // Largest: an outlier of 20·2000 keeps every d and min inside the f16 range (beyond it ggml stores an infinite d).
        double[] magnitudes = [1e-3, 0.02, 1, 7.5, 300, 2000];
        for (int b = 0; b < 48; b++)
        {
            double scale = magnitudes[b % magnitudes.Length];
            for (int j = 0; j < 32; j++)
            {
                double gaussian = random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5;
                x[32 * b + j] = (float)(gaussian * scale);
            }
            if (b % 7 == 3) x[32 * b + random.Next(32)] = (float)(scale * 20);         // outlier
            if (b % 11 == 5) for (int j = 0; j < 32; j++) x[32 * b + j] = (float)scale; // constant block
        }
        return x;
    }

    [Fact]
    public void Q8_0_round_trip_error_within_half_a_step_plus_the_f16_rounding_of_d()
    {
        float[] x = RoundTripData();
        float[] y = new float[x.Length];
        Dequantizer.ToFloat(TensorType.Q8_0, Quantize(TensorType.Q8_0, x), y);
        for (int b = 0; b < x.Length / 32; b++)
        {
            double amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[32 * b + j]));
            double d = amax / 127, dh = (double)(Half)(float)d;
            double bound = 0.5 * d + 127 * Math.Abs(d - dh) + 1e-6 * amax;
            for (int j = 0; j < 32; j++)
                Assert.True(Math.Abs(x[32 * b + j] - y[32 * b + j]) <= bound, $"block {b} element {j}: {x[32 * b + j]} → {y[32 * b + j]}, bound {bound}");
        }
    }

    [Fact]
    public void Q8_1_round_trip_matches_Q8_0_values()
    {
        float[] x = RoundTripData();
        float[] viaQ8_0 = new float[x.Length], viaQ8_1 = new float[x.Length];
        Dequantizer.ToFloat(TensorType.Q8_0, Quantize(TensorType.Q8_0, x), viaQ8_0);
        Dequantizer.ToFloat(TensorType.Q8_1, Quantize(TensorType.Q8_1, x), viaQ8_1);
        Assert.Equal(viaQ8_0, viaQ8_1);
    }

    [Theory]
    [InlineData(TensorType.Q4_0, 8)]
    [InlineData(TensorType.Q5_0, 16)]
    public void Symmetric_round_trip_error_is_half_a_step_except_the_clamped_top_code(TensorType type, int levels)
    {
        // d = max/−levels maps the signed largest value to code 0; a value of the opposite sign and (almost) equal
        // magnitude would need code 2·levels, which is clamped to 2·levels − 1: there the error may reach a full step.
        float[] x = RoundTripData();
        float[] y = new float[x.Length];
        Dequantizer.ToFloat(type, Quantize(type, x), y);
        for (int b = 0; b < x.Length / 32; b++)
        {
            double amax = 0, max = 0;
            for (int j = 0; j < 32; j++)
                if (Math.Abs(x[32 * b + j]) > amax) { amax = Math.Abs(x[32 * b + j]); max = x[32 * b + j]; }
            double d = max / -levels, dh = (double)(Half)(float)d;
            for (int j = 0; j < 32; j++)
            {
                double t = d == 0 ? 0 : x[32 * b + j] / d;
                double steps = t > levels - 0.5 ? 1.0 : 0.5;
                double bound = steps * Math.Abs(d) + levels * Math.Abs(d - dh) + 1e-6 * amax;
                Assert.True(Math.Abs(x[32 * b + j] - y[32 * b + j]) <= bound, $"{type} block {b} element {j}: {x[32 * b + j]} → {y[32 * b + j]}, bound {bound}");
            }
        }
    }

    [Theory]
    [InlineData(TensorType.Q4_1, 15)]
    [InlineData(TensorType.Q5_1, 31)]
    public void Affine_round_trip_error_is_half_a_step_plus_the_f16_rounding_of_d_and_min(TensorType type, int maxCode)
    {
        float[] x = RoundTripData();
        float[] y = new float[x.Length];
        Dequantizer.ToFloat(type, Quantize(type, x), y);
        for (int b = 0; b < x.Length / 32; b++)
        {
            double min = double.MaxValue, max = double.MinValue;
            for (int j = 0; j < 32; j++) { min = Math.Min(min, x[32 * b + j]); max = Math.Max(max, x[32 * b + j]); }
            double d = (max - min) / maxCode, dh = (double)(Half)(float)d, mh = (double)(Half)(float)min;
            double bound = 0.5 * d + maxCode * Math.Abs(d - dh) + Math.Abs(min - mh) + 1e-6 * Math.Max(Math.Abs(min), Math.Abs(max));
            for (int j = 0; j < 32; j++)
                Assert.True(Math.Abs(x[32 * b + j] - y[32 * b + j]) <= bound, $"{type} block {b} element {j}: {x[32 * b + j]} → {y[32 * b + j]}, bound {bound}");
        }
    }

    [Fact]
    public void Quantizing_what_was_dequantized_from_Q8_0_reproduces_the_bytes()
    {
        // A block whose values are exactly q·d with amax = 127·d is a fixed point of the reference quantizer.
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = (j * 8 - 127) * 0.25f;
        x[31] = 127 * 0.25f;
        byte[] first = Quantize(TensorType.Q8_0, x);
        float[] y = new float[32];
        Dequantizer.ToFloat(TensorType.Q8_0, first, y);
        Assert.Equal(x, y);
        Assert.Equal(first, Quantize(TensorType.Q8_0, y));
    }
}
