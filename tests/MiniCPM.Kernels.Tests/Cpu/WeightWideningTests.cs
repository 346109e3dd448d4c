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
