using System.Runtime.Intrinsics;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// The four-at-once f16 → float conversion the four-row quantized kernel uses for block scales, against .NET's Half
/// on all 65 536 bit patterns, each pattern tried in every lane.
/// </summary>
public sealed class QuantizedScaleTests
{
    [Fact]
    public void VectorConversionMatchesHalfOnEveryBitPatternInEveryLane()
    {
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            // Lane k holds h + k: over all h, every lane sees every pattern.
            uint[] lanes = new uint[4];
            for (int lane = 0; lane < 4; lane++) lanes[lane] = (uint)((h + lane) & 0xFFFF);
            Vector128<float> actual = HalfBits.ToFloat(Vector128.Create(lanes));
            for (int lane = 0; lane < 4; lane++) AssertSame((int)lanes[lane], actual.GetElement(lane));
        }
    }

    private static void AssertSame(int h, float actual)
    {
        float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{h:X4}: expected NaN, got {actual}");
        else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"0x{h:X4}: expected {expected}, got {actual}");
    }
}
