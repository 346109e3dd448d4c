using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Formats;

public class Fp16Bf16Tests
{
    [Theory]
    [InlineData((ushort)0x3C00, 1.0)]
    [InlineData((ushort)0xC000, -2.0)]
    [InlineData((ushort)0x7BFF, 65504.0)]
    [InlineData((ushort)0x0400, 6.103515625e-05)]          // smallest normal 2^-14
    [InlineData((ushort)0x0001, 5.9604644775390625e-08)]   // smallest subnormal 2^-24
    [InlineData((ushort)0x83FF, -6.0975551605224609e-05)]  // largest negative subnormal -(1023 * 2^-24)
    [InlineData((ushort)0x3555, 0.333251953125)]           // 1 + 341/1024, times 2^-2
    public void Fp16_ToFloat_is_exact(ushort bits, double expected) =>
        Assert.Equal((float)expected, Fp16.ToFloat(bits));

    [Fact]
    public void Fp16_ToFloat_specials()
    {
        Assert.Equal(float.PositiveInfinity, Fp16.ToFloat(0x7C00));
        Assert.Equal(float.NegativeInfinity, Fp16.ToFloat(0xFC00));
        Assert.True(float.IsNaN(Fp16.ToFloat(0x7E00)));
        Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(Fp16.ToFloat(0x8000))); // -0 keeps its sign
    }

    [Theory]
    [InlineData(1.0f, (ushort)0x3C00)]
    [InlineData(1.00048828125f, (ushort)0x3C00)]      // 1 + 2^-11: tie between 0x3C00 and 0x3C01 → even (0x3C00)
    [InlineData(1.00146484375f, (ushort)0x3C02)]      // 1 + 3·2^-11: tie between 0x3C01 and 0x3C02 → even (0x3C02)
    [InlineData(1.0004884f, (ushort)0x3C01)]          // one float ulp above the tie → up
    [InlineData(65504f, (ushort)0x7BFF)]
    [InlineData(65519.996f, (ushort)0x7BFF)]          // below the midpoint to 2^16 → max half
    [InlineData(65520f, (ushort)0x7C00)]              // midpoint 65504..65536, max half has odd mantissa → rounds to infinity
    [InlineData(1e9f, (ushort)0x7C00)]
    [InlineData(-1e9f, (ushort)0xFC00)]
    [InlineData(5.9604644775390625e-08f, (ushort)0x0001)] // 2^-24 exactly
    [InlineData(2.98023223876953125e-08f, (ushort)0x0000)] // 2^-25: tie between 0 and 2^-24 → even (0)
    [InlineData(4.470348358154297e-08f, (ushort)0x0001)]   // 1.5·2^-25 → nearest is 2^-24
    [InlineData(8.940696716308594e-08f, (ushort)0x0002)]   // 1.5·2^-24: tie between 1 and 2 ulps → even (2)
    [InlineData(-0f, (ushort)0x8000)]
    [InlineData(float.PositiveInfinity, (ushort)0x7C00)]
    [InlineData(float.NegativeInfinity, (ushort)0xFC00)]
    public void Fp16_FromFloat_rounds_to_nearest_even(float value, ushort expected) =>
        Assert.Equal(expected, Fp16.FromFloat(value));

    [Fact]
    public void Fp16_FromFloat_NaN_becomes_canonical_quiet_NaN_keeping_sign()
    {
        Assert.Equal(0x7E00, Fp16.FromFloat(float.NaN) & 0x7FFF);
        Assert.Equal((ushort)0x7E00, Fp16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F80_0001))); // signalling, tiny payload
        Assert.Equal((ushort)0xFE00, Fp16.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC1_2345)));
    }

    [Fact]
    public void Fp16_round_trip_of_every_finite_half_is_identity()
    {
        for (int bits = 0; bits < 0x10000; bits++)
        {
            if ((bits & 0x7C00) == 0x7C00) continue; // inf/NaN
            Assert.Equal((ushort)bits, Fp16.FromFloat(Fp16.ToFloat((ushort)bits)));
        }
    }

    [Theory]
    [InlineData((ushort)0x3F80, 1.0)]
    [InlineData((ushort)0xC040, -3.0)]
    [InlineData((ushort)0x0001, 9.183549615799121e-41)] // bf16 subnormal 2^-133
    [InlineData((ushort)0x7F7F, 3.3895313892515355e38)] // largest finite bf16
    public void Bf16_ToFloat_is_the_top_half_of_a_float(ushort bits, double expected) =>
        Assert.Equal((float)expected, Bf16.ToFloat(bits));

    [Theory]
    [InlineData(0x3F80_0000u, (ushort)0x3F80)]
    [InlineData(0x3F80_8000u, (ushort)0x3F80)] // exact tie, kept bit even → down
    [InlineData(0x3F81_8000u, (ushort)0x3F82)] // exact tie, kept bit odd → up to even
    [InlineData(0x3F80_8001u, (ushort)0x3F81)] // above the tie → up
    [InlineData(0x3F80_7FFFu, (ushort)0x3F80)] // below the tie → down
    [InlineData(0xBF81_8000u, (ushort)0xBF82)] // sign does not change the rule
    [InlineData(0x7F7F_FFFFu, (ushort)0x7F80)] // float max rounds up to infinity
    [InlineData(0x7F80_0000u, (ushort)0x7F80)] // +inf stays inf
    [InlineData(0x0000_8000u, (ushort)0x0000)] // subnormal tie → even (0), not flushed
    [InlineData(0x0001_8000u, (ushort)0x0002)] // subnormal tie, odd → up
    [InlineData(0x0001_0000u, (ushort)0x0001)] // subnormal kept exactly
    [InlineData(0x7F80_0001u, (ushort)0x7FC0)] // signalling NaN with payload only in the dropped half → forced quiet, not inf
    [InlineData(0xFF81_2345u, (ushort)0xFFC1)] // NaN keeps sign and top payload bits, quiet bit set
    [InlineData(0x7FC0_0000u, (ushort)0x7FC0)]
    public void Bf16_FromFloat_matches_ggml_rounding(uint floatBits, ushort expected) =>
        Assert.Equal(expected, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(floatBits)));
}
