using MiniCPM.Kernels.Formats;
using static MiniCPM.Kernels.Tests.Formats.BlockBytes;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>
/// Hand-built 32-element blocks. Expected values come from the block layouts (checkpoint-formats.md §9.1,
/// ggml-common.h), computed here in double; every chosen value is exact in float32, so equality is exact.
/// </summary>
public class LegacyBlockDequantTests
{
    [Fact]
    public void Q4_0_low_nibbles_are_elements_0_to_15_and_high_nibbles_16_to_31()
    {
        var block = new byte[18];
        PutHalf(block, 0, HalfHalf);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));

        float[] y = Dequantize(TensorType.Q4_0, block);

        // Spot checks by hand: element 0 = (0 − 8)·0.5, element 15 = (15 − 8)·0.5, element 16 = (15 − 8)·0.5.
        Assert.Equal(-4f, y[0]);
        Assert.Equal(3.5f, y[15]);
        Assert.Equal(3.5f, y[16]);
        Assert.Equal(-4f, y[31]);
        AssertAll(y, i => i < 16 ? (i - 8) * 0.5 : ((15 - (i - 16)) - 8) * 0.5);
    }

    [Theory]
    [InlineData(HalfMax, 65504.0)]
    [InlineData(HalfTiny, Tiny)]
    [InlineData(HalfMinusHalf, -0.5)]
    [InlineData((ushort)0x0000, 0.0)]
    public void Q4_0_extreme_and_negative_scales(ushort dBits, double d)
    {
        var block = new byte[18];
        PutHalf(block, 0, dBits);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | (j << 4));
        float[] y = Dequantize(TensorType.Q4_0, block);
        AssertAll(y, i => (i % 16 - 8) * d);
        if (dBits == HalfMax)
        {
            Assert.Equal(-524032f, y[0]);  // −8 · 65504
            Assert.Equal(458528f, y[15]);  //  7 · 65504
        }
    }

    [Fact]
    public void Q4_0_decodes_consecutive_blocks_with_their_own_scale()
    {
        var data = new byte[36];
        PutHalf(data, 0, HalfOne);
        PutHalf(data, 18, HalfMinusOne);
        for (int j = 0; j < 16; j++) { data[2 + j] = 0x9A; data[20 + j] = 0x9A; } // low 10, high 9
        float[] y = Dequantize(TensorType.Q4_0, data);
        Assert.Equal(64, y.Length);
        AssertAll(y, i => (i % 32 < 16 ? 2 : 1) * (i < 32 ? 1 : -1));
    }

    [Fact]
    public void Q4_1_adds_the_min()
    {
        var block = new byte[20];
        PutHalf(block, 0, HalfQuarter);
        PutHalf(block, 2, HalfMinusOne);
        for (int j = 0; j < 16; j++) block[4 + j] = (byte)(j | ((15 - j) << 4));
        float[] y = Dequantize(TensorType.Q4_1, block);
        Assert.Equal(-1f, y[0]);      // 0·0.25 − 1
        Assert.Equal(2.75f, y[15]);   // 15·0.25 − 1
        Assert.Equal(2.75f, y[16]);
        AssertAll(y, i => (i < 16 ? i : 15 - (i - 16)) * 0.25 - 1);
    }

    [Fact]
    public void Q4_1_extreme_scale_and_min()
    {
        var block = new byte[20];
        PutHalf(block, 0, HalfMax);
        PutHalf(block, 2, 0xFBFF); // m = −65504
        for (int j = 0; j < 16; j++) block[4 + j] = 0xF0; // low 0, high 15
        float[] y = Dequantize(TensorType.Q4_1, block);
        AssertAll(y, i => i < 16 ? -65504.0 : 15 * 65504.0 - 65504.0);
    }

    [Fact]
    public void Q5_0_fifth_bit_comes_from_qh_bit_j_and_bit_j_plus_16()
    {
        var block = new byte[22];
        PutHalf(block, 0, HalfHalf);
        // qh (little-endian u32): bits 0, 3, 16 and 31 set → elements 0, 3, 16, 31 get +16.
        uint qh = (1u << 0) | (1u << 3) | (1u << 16) | (1u << 31);
        block[2] = (byte)qh; block[3] = (byte)(qh >> 8); block[4] = (byte)(qh >> 16); block[5] = (byte)(qh >> 24);
        for (int j = 0; j < 16; j++) block[6 + j] = (byte)(j | ((15 - j) << 4));

        float[] y = Dequantize(TensorType.Q5_0, block);

        Assert.Equal(0f, y[0]);       // (0 | 16) − 16 = 0
        Assert.Equal(-7.5f, y[1]);    // (1) − 16 = −15 → ·0.5
        Assert.Equal(1.5f, y[3]);     // (3 | 16) − 16 = 3
        Assert.Equal(7.5f, y[16]);    // (15 | 16) − 16 = 15
        Assert.Equal(0f, y[31]);      // high nibble of byte 15 is 0: (0 | 16) − 16 = 0
        Assert.Equal(-1f, y[17]);     // high nibble of byte 1 is 14, no fifth bit: (14 − 16)·0.5
        AssertAll(y, i =>
        {
            int nibble = i < 16 ? i : 15 - (i - 16);
            int fifth = i is 0 or 3 or 16 or 31 ? 16 : 0;
            return (nibble + fifth - 16) * 0.5;
        });
    }

    [Fact]
    public void Q5_0_all_elements_and_negative_scale()
    {
        var block = new byte[22];
        PutHalf(block, 0, HalfMinusOne);
        uint qh = 0xA5A5_0F0F;
        block[2] = (byte)qh; block[3] = (byte)(qh >> 8); block[4] = (byte)(qh >> 16); block[5] = (byte)(qh >> 24);
        for (int j = 0; j < 16; j++) block[6 + j] = (byte)((j * 7 % 16) | ((j * 3 % 16) << 4));
        float[] y = Dequantize(TensorType.Q5_0, block);
        AssertAll(y, i =>
        {
            int j = i % 16;
            int nibble = i < 16 ? j * 7 % 16 : j * 3 % 16;
            int fifth = (int)((qh >> i) & 1);
            return -1.0 * (nibble + 16 * fifth - 16);
        });
    }

    [Fact]
    public void Q5_1_fifth_bit_then_scale_plus_min()
    {
        var block = new byte[24];
        PutHalf(block, 0, HalfHalf);
        PutHalf(block, 2, HalfTwo);
        uint qh = 0x8001_0002; // elements 1, 16 and 31
        block[4] = (byte)qh; block[5] = (byte)(qh >> 8); block[6] = (byte)(qh >> 16); block[7] = (byte)(qh >> 24);
        for (int j = 0; j < 16; j++) block[8 + j] = 0xFF;
        float[] y = Dequantize(TensorType.Q5_1, block);
        Assert.Equal(9.5f, y[0]);    // 15·0.5 + 2
        Assert.Equal(17.5f, y[1]);   // 31·0.5 + 2
        Assert.Equal(17.5f, y[16]);
        Assert.Equal(9.5f, y[17]);
        Assert.Equal(17.5f, y[31]);
        AssertAll(y, i => (15 + 16 * (int)((qh >> i) & 1)) * 0.5 + 2);
    }

    [Theory]
    [InlineData(HalfHalf, 0.5)]
    [InlineData(HalfMax, 65504.0)]
    [InlineData(HalfTiny, Tiny)]
    [InlineData(HalfMinusOne, -1.0)]
    public void Q8_0_is_signed_bytes_times_d(ushort dBits, double d)
    {
        var block = new byte[34];
        PutHalf(block, 0, dBits);
        sbyte[] q = new sbyte[32];
        for (int j = 0; j < 32; j++) q[j] = (sbyte)(j * 9 - 128); // −128 … 151 wraps → covers both signs
        q[31] = 127;
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)q[j];
        float[] y = Dequantize(TensorType.Q8_0, block);
        AssertAll(y, i => q[i] * d);
        Assert.Equal((float)(-128 * d), y[0]);
        Assert.Equal((float)(127 * d), y[31]);
    }

    [Fact]
    public void Q8_1_skips_the_sum_field()
    {
        var block = new byte[36];
        PutHalf(block, 0, HalfQuarter);
        PutHalf(block, 2, 0x7C00); // s = +inf: must not leak into the values
        for (int j = 0; j < 32; j++) block[4 + j] = (byte)(sbyte)(j - 16);
        float[] y = Dequantize(TensorType.Q8_1, block);
        AssertAll(y, i => (i - 16) * 0.25);
    }
}
