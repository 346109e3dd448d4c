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

    /// <summary>
    /// The 32-at-a-time widening the matvec kernel uses: even columns in the first vector and odd ones in the second,
    /// exact for every half (exact path), and exact for every finite half with Inf/NaN flagged per block (fast path).
    /// </summary>
    [Fact]
    public void F16PairWideningSplitsEvenAndOddColumnsExactly()
    {
        var bits = new ushort[65536];
        // A scrambled order, so that every block mixes exponents, signs and subnormals in both positions of a pair.
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)(i * 40503);
        fixed (ushort* p = bits)
            for (int i = 0; i < bits.Length; i += 32)
            {
                F16Weights.Load32((byte*)p, i, out Vector512<float> even, out Vector512<float> odd);
                var rare = Vector512<uint>.Zero;
                F16Weights.Load32Fast((byte*)p, i, out Vector512<float> fastEven, out Vector512<float> fastOdd, ref rare);
                bool blockHasInfOrNaN = false;
                for (int k = 0; k < 32; k++)
                {
                    ushort h = bits[i + k];
                    float expected = (float)BitConverter.UInt16BitsToHalf(h);
                    float exact = k % 2 == 0 ? even[k / 2] : odd[k / 2];
                    float fast = k % 2 == 0 ? fastEven[k / 2] : fastOdd[k / 2];
                    if (float.IsNaN(expected)) Assert.True(float.IsNaN(exact), $"0x{h:X4} should be NaN");
                    else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(exact),
                        $"0x{h:X4}: expected {expected}, got {exact}");
                    if (!float.IsFinite(expected)) blockHasInfOrNaN = true;
                    else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(fast),
                        $"0x{h:X4} (fast): expected {expected}, got {fast}");
                }
                Assert.Equal(blockHasInfOrNaN, F16Weights.SawRare(rare));
            }
    }

    [Fact]
    public void BF16PairWideningSplitsEvenAndOddColumns()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)(i * 40503);
        fixed (ushort* p = bits)
            for (int i = 0; i < bits.Length; i += 32)
            {
                BF16Weights.Load32((byte*)p, i, out Vector512<float> even, out Vector512<float> odd);
                for (int k = 0; k < 16; k++)
                {
                    Assert.Equal((uint)bits[i + 2 * k] << 16, BitConverter.SingleToUInt32Bits(even[k]));
                    Assert.Equal((uint)bits[i + 2 * k + 1] << 16, BitConverter.SingleToUInt32Bits(odd[k]));
                }
            }
    }

    [Fact]
    public void F32Load32IsTwoConsecutiveChunks()
    {
        float[] values = Enumerable.Range(0, 32).Select(i => i * 1.5f - 7).ToArray();
        fixed (float* p = values)
        {
            F32Weights.Load32((byte*)p, 0, out Vector512<float> first, out Vector512<float> second);
            for (int k = 0; k < 16; k++)
            {
                Assert.Equal(values[k], first[k]);
                Assert.Equal(values[16 + k], second[k]);
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(96 + 17)]
    public void PairSplitPutsEvenColumnsBeforeOddOnesInEveryWholeBlock(int count)
    {
        float[] x = Enumerable.Range(0, count).Select(i => (float)i).ToArray();
        var split = new float[count];
        fixed (float* xp = x, sp = split) PairSplit.Copy(xp, sp, count);
        int whole = count / 32 * 32;
        for (int c = 0; c < count; c++)
        {
            float expected = c >= whole ? c : c / 32 * 32 + (c % 32 < 16 ? 2 * (c % 32) : 2 * (c % 32 - 16) + 1);
            Assert.Equal(expected, split[c]);
        }
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
