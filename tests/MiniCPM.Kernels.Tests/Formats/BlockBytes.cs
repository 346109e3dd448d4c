using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>Small helpers for building blocks by hand in tests. Half constants are written as IEEE bit patterns.</summary>
internal static class BlockBytes
{
    public const ushort HalfOne = 0x3C00;        // 1.0
    public const ushort HalfHalf = 0x3800;       // 0.5
    public const ushort HalfQuarter = 0x3400;    // 0.25
    public const ushort HalfMinusHalf = 0xB800;  // -0.5
    public const ushort HalfMinusOne = 0xBC00;   // -1.0
    public const ushort HalfTwo = 0x4000;        // 2.0
    public const ushort HalfMax = 0x7BFF;        // 65504 = (2 - 2^-10) * 2^15
    public const ushort HalfTiny = 0x0001;       // smallest subnormal, 2^-24
    public const double Tiny = 5.9604644775390625e-8; // 2^-24

    public static void PutHalf(byte[] block, int offset, ushort bits) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(offset), bits);

    public static float[] Dequantize(TensorType type, byte[] data)
    {
        var y = new float[data.Length / type.BlockBytes() * type.BlockElements()];
        Dequantizer.ToFloat(type, data, y);
        return y;
    }

    /// <summary>Asserts y[i] equals (float)expected(i) for every i, naming the first index that differs.</summary>
    public static void AssertAll(float[] y, Func<int, double> expected)
    {
        for (int i = 0; i < y.Length; i++)
        {
            float want = (float)expected(i);
            if (BitConverter.SingleToInt32Bits(want) != BitConverter.SingleToInt32Bits(y[i]))
                Assert.Fail($"element {i}: expected {want:R}, got {y[i]:R}");
        }
    }
}
