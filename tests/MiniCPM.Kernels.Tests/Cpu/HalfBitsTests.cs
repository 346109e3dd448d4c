using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>The quantized kernels' own f16 → float conversion, against .NET's Half on all 65 536 bit patterns.</summary>
public sealed class HalfBitsTests
{
    [Fact]
    public void ScalarConversionMatchesHalfOnEveryBitPattern()
    {
        for (int h = 0; h <= ushort.MaxValue; h++)
            AssertSame(h, HalfBits.ToFloat((ushort)h));
    }

    private static void AssertSame(int h, float actual)
    {
        float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{h:X4}: expected NaN, got {actual}");
        else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"0x{h:X4}: expected {expected}, got {actual}");
    }
}
