using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;
using static MiniCPM.Kernels.Tests.Formats.BlockBytes;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>
/// K-quant super-blocks. Each type is checked two ways: (1) a small block whose bytes are written by hand and a
/// few outputs worked out in the comments; (2) a full block built by an encoder written here from ggml's
/// reference <em>quantizers</em>' packing (the opposite direction of the code under test), with every output
/// compared against the element-wise formula. Chosen scales make every product exact in float32.
/// </summary>
public class KQuantDequantTests
{
    // ---------------------------------------------------------------- Q2_K

    [Fact]
    public void Q2_K_hand_built_block()
    {
        var block = new byte[84];
        for (int k = 0; k < 16; k++) block[k] = 0x21;   // sc = 1, m = 2
        block[11] = 0xF3;                                // sub-block 11 (elements 176..191): sc = 3, m = 15
        block[16 + 0] = 0b11_10_01_00;                   // qs[0]: elements 0, 32, 64, 96 ← 0, 1, 2, 3
        block[16 + 48] = 0b00_01_10_11;                  // qs[48] = byte 16 of 2nd half: elements 144, 176, 208, 240 ← 3, 2, 1, 0
        PutHalf(block, 80, HalfOne);                     // d
        PutHalf(block, 82, HalfHalf);                    // dmin

        float[] y = Dequantize(TensorType.Q2_K, block);

        Assert.Equal(-1f, y[0]);     // 1·1·0 − 0.5·2
        Assert.Equal(0f, y[32]);     // 1·1·1 − 1
        Assert.Equal(1f, y[64]);
        Assert.Equal(2f, y[96]);
        Assert.Equal(2f, y[144]);    // 1·3 − 1
        Assert.Equal(-1.5f, y[176]); // 1·3·2 − 0.5·15
        Assert.Equal(0f, y[208]);
        Assert.Equal(-1f, y[240]);
        int[] special = [32, 64, 96, 144, 176, 208];
        for (int o = 0; o < 256; o++)
            if (!special.Contains(o) && o / 16 != 11) Assert.Equal(-1f, y[o]);
        Assert.Equal(-7.5f, y[177]); // sub-block 11, quant 0: −0.5·15
    }

    [Theory]
    [InlineData(HalfHalf, 0.5, HalfQuarter, 0.25)]
    [InlineData(HalfMax, 65504.0, HalfTiny, Tiny)]
    [InlineData(HalfMinusHalf, -0.5, HalfMinusOne, -1.0)]
    public void Q2_K_full_block(ushort dBits, double d, ushort dminBits, double dmin)
    {
        int Quant(int o) => (o * 7 + o / 16) % 4;
        int Sc(int k) => k;
        int Min(int k) => 15 - k;

        var block = new byte[84];
        for (int k = 0; k < 16; k++) block[k] = (byte)(Sc(k) | (Min(k) << 4));
        for (int o = 0; o < 256; o++) // encoder: qs[32·half + l] holds elements 128·half + 32·s + l at bits 2s
            block[16 + 32 * (o / 128) + o % 32] |= (byte)(Quant(o) << (2 * (o % 128 / 32)));
        PutHalf(block, 80, dBits);
        PutHalf(block, 82, dminBits);

        AssertAll(Dequantize(TensorType.Q2_K, block), o => d * Sc(o / 16) * Quant(o) - dmin * Min(o / 16));
    }

    // ---------------------------------------------------------------- Q3_K

    [Fact]
    public void Q3_K_hand_built_scales_hmask_and_quants()
    {
        var block = new byte[110];
        // Scales (bytes 96..107): all raw 0 (→ −32) except
        //   byte 96+8 = 0b11_00_00_00: top 2 bits of scale j with j%4 = 0, j/4 = 3 → j = 12: raw 48 → +16;
        //   byte 96+3 = 0xA0: high nibble of byte 3 is the low 4 bits of scale 11: raw 10 → −22.
        block[96 + 8] = 0b1100_0000;
        block[96 + 3] = 0xA0;
        // Quants: qs all 0 (low2 = 0). hmask[0] bit 6 → element 6·32 + 0 = 192 has high bit → quant 0; else −4.
        block[0] = 0b0100_0000;
        // hmask[1] bit 5 and qs byte for element 32·5 + 1 = 161: half 1, s = 1, l = 1 → qs[32 + 1] bits 2..3 = 3
        block[1] = 0b0010_0000;
        block[32 + 32 + 1] = 0b0000_1100;
        PutHalf(block, 108, HalfHalf);

        float[] y = Dequantize(TensorType.Q3_K, block);

        Assert.Equal(64f, y[0]);      // 0.5·(0 − 32)·(0 − 4)
        Assert.Equal(0f, y[192]);     // sub-block 12: 0.5·16·0
        Assert.Equal(-32f, y[193]);   // 0.5·16·(−4)
        Assert.Equal(44f, y[176]);    // sub-block 11: 0.5·(−22)·(−4)
        Assert.Equal(-48f, y[161]);   // sub-block 10: 0.5·(−32)·3 (low2 = 3, high bit set)
        AssertAll(y, o => o == 192 ? 0 : o == 161 ? -48 : 0.5 * (o / 16 == 12 ? 16 : o / 16 == 11 ? -22 : -32) * -4);
    }

    [Theory]
    [InlineData(HalfHalf, 0.5)]
    [InlineData(HalfMax, 65504.0)]
    [InlineData(HalfTiny, Tiny)]
    [InlineData(HalfMinusOne, -1.0)]
    public void Q3_K_full_block(ushort dBits, double d)
    {
        int[] rawScale = [0, 63, 32, 33, 31, 1, 62, 16, 48, 5, 40, 60, 2, 47, 32, 17];
        int Quant(int o) => (o * 5 + o / 32) % 8 - 4; // −4..3

        var block = new byte[110];
        // Encoder, as quantize_row_q3_K_ref packs: low nibble into byte j (j < 8) or high nibble of byte j − 8,
        // top 2 bits into byte 8 + j%4 at bit 2·(j/4).
        for (int j = 0; j < 16; j++)
        {
            int l = rawScale[j];
            if (j < 8) block[96 + j] |= (byte)(l & 0xF);
            else block[96 + j - 8] |= (byte)((l & 0xF) << 4);
            block[96 + 8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
        }
        for (int o = 0; o < 256; o++)
        {
            int stored = Quant(o) + 4; // 0..7: bit 2 to hmask, low 2 bits to qs
            if (stored > 3) block[o % 32] |= (byte)(1 << (o / 32));
            block[32 + 32 * (o / 128) + o % 32] |= (byte)((stored & 3) << (2 * (o % 128 / 32)));
        }
        PutHalf(block, 108, dBits);

        AssertAll(Dequantize(TensorType.Q3_K, block), o => d * (rawScale[o / 16] - 32) * Quant(o));
    }

    // ---------------------------------------------------------------- Q4_K / Q5_K scale packing

    /// <summary>Encoder for the 12-byte 6-bit (scale, min) packing, as quantize_row_q4_K_ref writes it.</summary>
    private static void PackScaleMin(byte[] block, int offset, int[] sc, int[] m)
    {
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                block[offset + j] = (byte)sc[j];
                block[offset + j + 4] = (byte)m[j];
            }
            else
            {
                block[offset + j + 4] = (byte)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
                block[offset + j - 4] |= (byte)((sc[j] >> 4) << 6);
                block[offset + j] |= (byte)((m[j] >> 4) << 6);
            }
        }
    }

    private static readonly int[] SubScales = [1, 63, 17, 32, 45, 18, 63, 33];
    private static readonly int[] SubMins = [0, 5, 63, 40, 62, 16, 1, 47];

    // ---------------------------------------------------------------- Q4_K

    [Fact]
    public void Q4_K_hand_built_upper_sub_block_scales()
    {
        var block = new byte[144];
        PutHalf(block, 0, HalfOne);
        PutHalf(block, 2, HalfOne);
        // scales = bytes 4..15. Sub-block 1: byte 1 = 0b10_000011 → sc(1) = 3 and top bits of sc(5) = 2;
        // byte 5 = 0b01_000111 → m(1) = 7 and top bits of m(5) = 1; byte 9 = 0x4C → sc(5) low = 0xC, m(5) low = 4.
        // So sc(5) = 0xC | 2<<4 = 44 and m(5) = 4 | 1<<4 = 20.
        block[4 + 1] = 0b1000_0011;
        block[4 + 5] = 0b0100_0111;
        block[4 + 9] = 0x4C;
        for (int i = 16; i < 144; i++) block[i] = 0x21; // low nibble 1, high nibble 2

        float[] y = Dequantize(TensorType.Q4_K, block);

        Assert.Equal(-1f, y[32]);    // sub-block 1 = high nibbles of group 0: 3·2 − 7
        Assert.Equal(68f, y[160]);   // sub-block 5 = high nibbles of group 2: 44·2 − 20
        Assert.Equal(0f, y[0]);      // sub-block 0: sc = m = 0
        Assert.Equal(0f, y[128]);    // sub-block 4: sc(4) = byte 8 low nibble (0) | top bits of byte 0 (0)
        AssertAll(y, o => o / 32 == 1 ? -1 : o / 32 == 5 ? 68 : 0);
    }

    [Theory]
    [InlineData(HalfHalf, 0.5, HalfQuarter, 0.25)]
    [InlineData(HalfMax, 65504.0, HalfMax, 65504.0)]
    [InlineData(HalfTiny, Tiny, HalfMinusHalf, -0.5)]
    public void Q4_K_full_block(ushort dBits, double d, ushort dminBits, double dmin)
    {
        int Quant(int o) => (o * 11 + o / 64) % 16;
        var block = new byte[144];
        PutHalf(block, 0, dBits);
        PutHalf(block, 2, dminBits);
        PackScaleMin(block, 4, SubScales, SubMins);
        for (int o = 0; o < 256; o++) // group g = o/64 uses qs[32g..]: first 32 in low nibbles, next 32 in high
            block[16 + 32 * (o / 64) + o % 32] |= (byte)(Quant(o) << (o % 64 < 32 ? 0 : 4));

        AssertAll(Dequantize(TensorType.Q4_K, block), o => d * SubScales[o / 32] * Quant(o) - dmin * SubMins[o / 32]);
    }

    [Fact]
    public void Q4_K_rounds_like_ggml_d_times_sc_first_then_times_q_minus_dmin_times_m()
    {
        const ushort dBits = 0x3555, dminBits = 0x2E66; // 0.333251953125 and 0.0999755859375: products are inexact
        float d = Fp16.ToFloat(dBits), dmin = Fp16.ToFloat(dminBits);
        int Quant(int o) => (o * 11 + o / 64) % 16;
        var block = new byte[144];
        PutHalf(block, 0, dBits);
        PutHalf(block, 2, dminBits);
        PackScaleMin(block, 4, SubScales, SubMins);
        for (int o = 0; o < 256; o++)
            block[16 + 32 * (o / 64) + o % 32] |= (byte)(Quant(o) << (o % 64 < 32 ? 0 : 4));

        float[] y = Dequantize(TensorType.Q4_K, block);
        for (int o = 0; o < 256; o++)
        {
            // ggml: d1 = d·sc and m1 = dmin·m in float32, then d1·q − m1, each step rounded to float32, no FMA.
            float d1 = d * SubScales[o / 32];
            float m1 = dmin * SubMins[o / 32];
            float product = d1 * Quant(o);
            float expected = product - m1;
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(y[o]));
        }
    }

    // ---------------------------------------------------------------- Q5_K

    [Fact]
    public void Q5_K_hand_built_fifth_bits()
    {
        var block = new byte[176];
        PutHalf(block, 0, HalfOne);
        PutHalf(block, 2, 0x0000);                        // dmin = 0
        for (int k = 0; k < 4; k++) block[4 + k] = 1;     // sc(0..3) = 1
        for (int k = 8; k < 12; k++) block[4 + k] = 0x01; // sc(4..7) low nibble 1, min 0
        block[16 + 0] = 0b0000_0100;                      // qh[0] bit 2 = group 1, low nibble, l = 0 → element 64
        block[16 + 5] = 0b1000_0000;                      // qh[5] bit 7 = group 3, high nibble, l = 5 → element 229
        // qs (bytes 48..175) all zero

        float[] y = Dequantize(TensorType.Q5_K, block);

        Assert.Equal(16f, y[64]);
        Assert.Equal(16f, y[229]);
        AssertAll(y, o => o is 64 or 229 ? 16 : 0);
    }

    [Theory]
    [InlineData(HalfHalf, 0.5, HalfQuarter, 0.25)]
    [InlineData(HalfMax, 65504.0, HalfTiny, Tiny)]
    [InlineData(HalfMinusHalf, -0.5, HalfTwo, 2.0)]
    public void Q5_K_full_block(ushort dBits, double d, ushort dminBits, double dmin)
    {
        int Quant(int o) => (o * 13 + o / 32) % 32;
        var block = new byte[176];
        PutHalf(block, 0, dBits);
        PutHalf(block, 2, dminBits);
        PackScaleMin(block, 4, SubScales, SubMins);
        for (int o = 0; o < 256; o++)
        {
            int group = o / 64, l = o % 32;
            bool highNibble = o % 64 >= 32;
            block[48 + 32 * group + l] |= (byte)((Quant(o) & 0xF) << (highNibble ? 4 : 0));
            block[16 + l] |= (byte)((Quant(o) >> 4) << (2 * group + (highNibble ? 1 : 0)));
        }

        AssertAll(Dequantize(TensorType.Q5_K, block), o => d * SubScales[o / 32] * Quant(o) - dmin * SubMins[o / 32]);
    }

    // ---------------------------------------------------------------- Q6_K

    [Fact]
    public void Q6_K_hand_built_d_is_stored_last()
    {
        var block = new byte[210];
        for (int k = 0; k < 16; k++) block[192 + k] = (byte)(sbyte)(k - 8); // scales −8..7
        PutHalf(block, 208, HalfHalf);                                      // d at the very end
        block[0] = 0x0F;                                                     // ql[0] low nibble 15 → element 0
        block[128] = 0x03;                                                   // qh[0] bits 0..1 = 3 → element 0 q6 = 63
        block[128 + 32 + 31] = 0b1100_0000;                                  // 2nd half qh[31] bits 6..7 → element 128+96+31 = 255

        float[] y = Dequantize(TensorType.Q6_K, block);

        Assert.Equal(-124f, y[0]);   // 0.5·(−8)·(63 − 32)
        Assert.Equal(128f, y[1]);    // 0.5·(−8)·(0 − 32)
        Assert.Equal(-112f, y[254]); // 0.5·7·(−32)
        Assert.Equal(56f, y[255]);   // 0.5·7·(48 − 32)
        AssertAll(y, o => o == 0 ? -124 : o == 255 ? 56 : 0.5 * (o / 16 - 8) * -32);
    }

    [Theory]
    [InlineData(HalfHalf, 0.5)]
    [InlineData(HalfMax, 65504.0)]
    [InlineData(HalfTiny, Tiny)]
    [InlineData(HalfMinusOne, -1.0)]
    public void Q6_K_full_block(ushort dBits, double d)
    {
        int[] scales = [-128, 127, -1, 0, 1, 64, -64, 33, -17, 100, -100, 5, -5, 7, 77, -77];
        int Quant(int o) => (o * 29 + o / 16) % 64; // stored 0..63, value q − 32
        var block = new byte[210];
        // Encoder as quantize_row_q6_K_ref: per half h and l: ql[l] = L[l] | L[l+64]<<4, ql[l+32] = L[l+32] | L[l+96]<<4,
        // qh[l] = L[l]>>4 | (L[l+32]>>4)<<2 | (L[l+64]>>4)<<4 | (L[l+96]>>4)<<6.
        for (int h = 0; h < 2; h++)
        {
            for (int l = 0; l < 32; l++)
            {
                int b = 128 * h + l;
                block[64 * h + l] = (byte)((Quant(b) & 0xF) | ((Quant(b + 64) & 0xF) << 4));
                block[64 * h + l + 32] = (byte)((Quant(b + 32) & 0xF) | ((Quant(b + 96) & 0xF) << 4));
                block[128 + 32 * h + l] = (byte)((Quant(b) >> 4) | ((Quant(b + 32) >> 4) << 2) |
                                                 ((Quant(b + 64) >> 4) << 4) | ((Quant(b + 96) >> 4) << 6));
            }
        }
        for (int k = 0; k < 16; k++) block[192 + k] = (byte)(sbyte)scales[k];
        PutHalf(block, 208, dBits);

        AssertAll(Dequantize(TensorType.Q6_K, block), o => d * scales[o / 16] * (Quant(o) - 32));
    }

    [Fact]
    public void Q6_K_rounds_like_ggml_d_times_sc_first()
    {
        const ushort dBits = 0x3555;
        float d = Fp16.ToFloat(dBits);
        var block = new byte[210];
        for (int i = 0; i < 192; i++) block[i] = (byte)(i * 37 + 11);
        for (int k = 0; k < 16; k++) block[192 + k] = (byte)(sbyte)(k * 13 - 100);
        PutHalf(block, 208, dBits);
        float[] y = Dequantize(TensorType.Q6_K, block);
        for (int o = 0; o < 256; o++)
        {
            // Element o: half h, k = (o % 128) / 32, l = o % 32; nibble from ql[64h + l + 32·(k odd)], low for k < 2.
            int h = o / 128, k = o % 128 / 32, l = o % 32;
            int qlByte = block[64 * h + l + (k % 2 == 1 ? 32 : 0)];
            int low4 = k < 2 ? qlByte & 0xF : qlByte >> 4;
            int high2 = (block[128 + 32 * h + l] >> (2 * k)) & 3;
            int q = (low4 | (high2 << 4)) - 32;
            float dsc = d * (sbyte)block[192 + o / 16];
            float expected = dsc * q;
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(y[o]));
        }
    }

    // ---------------------------------------------------------------- Q8_K

    [Theory]
    [InlineData(0.375f)]
    [InlineData(-1e-40f)]          // float32 subnormal scale (Q8_K's d is a float, not a half)
    [InlineData(3.0e38f)]
    public void Q8_K_float_scale_then_int8_quants_and_ignored_bsums(float d)
    {
        var block = new byte[292];
        BinaryPrimitives.WriteSingleLittleEndian(block, d);
        for (int j = 0; j < 256; j++) block[4 + j] = (byte)(sbyte)(j - 128);
        for (int j = 260; j < 292; j++) block[j] = 0xFF; // bsums: garbage must not matter
        float[] y = Dequantize(TensorType.Q8_K, block);
        AssertAll(y, j => (float)((double)d * (j - 128)));
        Assert.Equal(-128 * d, y[0]);
    }
}
