using System.Runtime.InteropServices;
using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Four 32-bit words: one 16-byte load (ILGPU emits ld.global.v4 for an aligned 16-byte structure).</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public struct UInt4
{
    public uint X, Y, Z, W;
}

/// <summary>Four floats: one 16-byte load of activations.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public struct Float4
{
    public float X, Y, Z, W;

    public Float4(float x, float y, float z, float w)
    {
        X = x; Y = y; Z = z; W = w;
    }

    public static float Dot(Float4 a, Float4 b) => a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;
    public static float Sum(Float4 a) => a.X + a.Y + a.Z + a.W;
}

/// <summary>Bit conversions used inside kernels.</summary>
internal static class Bits
{
    /// <summary>IEEE half in the low 16 bits of <paramref name="word"/> → float.</summary>
    public static float HalfLow(uint word) => (float)Interop.IntAsFloat((ushort)(word & 0xFFFF));

    public static float HalfHigh(uint word) => (float)Interop.IntAsFloat((ushort)(word >> 16));

    /// <summary>bf16 is the top half of a float32: a 16-bit shift.</summary>
    public static float Bf16Low(uint word) => Interop.IntAsFloat(word << 16);

    public static float Bf16High(uint word) => Interop.IntAsFloat(word & 0xFFFF0000u);

    public static float Float(uint word) => Interop.IntAsFloat(word);

    /// <summary>Byte <paramref name="index"/> (0..3) of a word.</summary>
    public static uint Byte(uint word, int index) => (word >> (8 * index)) & 0xFF;

    /// <summary>Signed byte <paramref name="index"/> of a word as float.</summary>
    public static float SignedByte(uint word, int index) => (sbyte)(byte)(word >> (8 * index));

    /// <summary>
    /// A small unsigned integer n (&lt; 2^23) as float without an int→float conversion instruction (a quarter-rate
    /// pipe on NVIDIA GPUs): the bits 0x4B000000 | n are the float 2^23 + n, exact, and subtracting 2^23 leaves n.
    /// </summary>
    public static float Small(uint n) => Interop.IntAsFloat(0x4B000000u | n) - 8388608f;

    /// <summary>Signed byte <paramref name="index"/> as float by the same trick: (b ^ 0x80) = b + 128 as unsigned.</summary>
    public static float SignedByteFast(uint word, int index) =>
        Interop.IntAsFloat(0x4B000000u | (((word >> (8 * index)) & 0xFF) ^ 0x80)) - 8388736f;
}

/// <summary>Warp-wide reductions through shuffles (every lane gets the result).</summary>
internal static class WarpMath
{
    public static float Sum(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    public static float Max(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = IntrinsicMath.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }
}
