using System.Runtime.Intrinsics;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>The SIMD widening of 16-bit weights, checked for every one of the 65536 bit patterns.</summary>
public sealed unsafe class WeightWideningTests
{
    [Fact]
    public void F16WideningIsExactForEveryBitPattern()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        fixed (ushort* p = bits)
            for (int i = 0; i < bits.Length; i += 16)
            {
                Vector512<float> v = F16Weights.Load16((byte*)p, i);
                for (int lane = 0; lane < 16; lane++)
                {
                    float expected = (float)BitConverter.UInt16BitsToHalf(bits[i + lane]);
                    float actual = v[lane];
                    if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{i + lane:X4} should be NaN");
                    else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                        $"0x{i + lane:X4}: expected {expected}, got {actual}");
                }
            }
    }

    /// <summary>
    /// The matvec kernels' fast widening: bit-exact for every finite half (zeros of both signs and all 2046 subnormals
    /// included), and its "rare" flag is raised by exactly the 16-lane chunks that hold an infinity or NaN.
    /// </summary>
    [Fact]
    public void F16FastWideningIsExactForFiniteHalvesAndFlagsInfinityAndNaN()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        fixed (ushort* p = bits)
            for (int i = 0; i < bits.Length; i += 16)
            {
                var rare = Vector512<uint>.Zero;
                Vector512<float> v = F16Weights.Load16Fast((byte*)p, i, ref rare);
                bool chunkHasInfOrNaN = false;
                for (int lane = 0; lane < 16; lane++)
                {
                    Half half = BitConverter.UInt16BitsToHalf(bits[i + lane]);
                    if (!Half.IsFinite(half))
                    {
                        chunkHasInfOrNaN = true;
                        continue;
                    }
                    float expected = (float)half;
                    Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(v[lane]),
                        $"0x{i + lane:X4}: expected {expected}, got {v[lane]}");
                }
                Assert.Equal(chunkHasInfOrNaN, F16Weights.SawRare(rare));
            }
    }

    /// <summary>One infinity in an otherwise ordinary chunk raises the flag, whatever its lane and sign.</summary>
    [Theory]
    [InlineData(0, 0x7C00)]  // +∞
    [InlineData(7, 0xFC00)]  // −∞
    [InlineData(15, 0x7E00)] // quiet NaN
    [InlineData(3, 0xFC01)]  // negative signalling NaN
    public void F16FastWideningFlagsASingleRareLane(int lane, int rareBits)
    {
        var bits = new ushort[16];
        for (int i = 0; i < 16; i++) bits[i] = BitConverter.HalfToUInt16Bits((Half)(0.01f * (i - 8)));
        var rare = Vector512<uint>.Zero;
        fixed (ushort* p = bits) F16Weights.Load16Fast((byte*)p, 0, ref rare);
        Assert.False(F16Weights.SawRare(rare));
        bits[lane] = (ushort)rareBits;
        fixed (ushort* p = bits) F16Weights.Load16Fast((byte*)p, 0, ref rare);
        Assert.True(F16Weights.SawRare(rare));
    }

    [Fact]
    public void BF16WideningIsTheTopHalfOfAFloat()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        fixed (ushort* p = bits)
            for (int i = 0; i < bits.Length; i += 16)
            {
                Vector512<float> v = BF16Weights.Load16((byte*)p, i);
                for (int lane = 0; lane < 16; lane++)
                    Assert.Equal((uint)(i + lane) << 16, BitConverter.SingleToUInt32Bits(v[lane]));
            }
    }
}
