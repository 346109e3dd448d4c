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
    public static Float4 Add(Float4 a, Float4 b) => new(a.X + b.X, a.Y + b.Y, a.Z + b.Z, a.W + b.W);
    /// <summary>acc + w·v per component.</summary>
    public static Float4 MulAdd(Float4 acc, float w, Float4 v) => new(acc.X + w * v.X, acc.Y + w * v.Y, acc.Z + w * v.Z, acc.W + w * v.W);
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

    /// <summary>
    /// <paramref name="whenZero"/> or <paramref name="whenOne"/> as <paramref name="bit"/> (0 or 1) says, by masks
    /// rather than a C# conditional: ILGPU turns those into branches, and in the int8 matvec the lanes of a warp hold
    /// different blocks, so each branch on the block diverges and the warp runs both sides.
    /// </summary>
    public static uint Select(uint whenZero, uint whenOne, int bit) => whenZero ^ ((whenZero ^ whenOne) & (0u - (uint)bit));

    /// <summary>Word <paramref name="index"/> (0..3) of four, without branches (<see cref="Select"/>).</summary>
    public static uint WordAt(UInt4 words, int index)
    {
        int odd = index & 1;
        return Select(Select(words.X, words.Y, odd), Select(words.Z, words.W, odd), index >> 1);
    }

    /// <summary>Byte <paramref name="index"/> (0..15) of four words, without branches.</summary>
    public static uint ByteAt(UInt4 words, int index) => Byte(WordAt(words, index >> 2), index & 3);

    /// <summary>
    /// Signed byte <paramref name="index"/> of a word, sign-extended by an arithmetic shift. Not (sbyte)(byte)x: ILGPU's
    /// CUDA backend turns that into cvt.u8 and loses the sign (Q6_K's negative scales came out +128..255 on an H200),
    /// while the CPU simulator runs the cast as .NET does.
    /// </summary>
    public static int SignedByteInt(uint word, int index) => (int)(word << (24 - 8 * index)) >> 24;

    /// <summary><see cref="SignedByteInt"/> as float.</summary>
    public static float SignedByte(uint word, int index) => SignedByteInt(word, index);

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

    /// <summary>
    /// Two warp sums for the price of one: at the first step each lane sends the value its partner keeps and keeps
    /// the other, so every later step carries a single value (5 shuffles, not 10). Lanes 0..15 get a's total, lanes
    /// 16..31 b's. Each total is added up in the same tree as <see cref="Sum"/>, so the results are bit-identical.
    /// </summary>
    public static float Sum2(float a, float b)
    {
        bool upper = (Warp.LaneIdx & 16) != 0;
        float keep = upper ? b : a;
        keep += Warp.ShuffleXor(upper ? a : b, 16);
        return Tail(keep, 8);
    }

    /// <summary>
    /// Eight warp sums by halving the live values at each step (4 + 2 + 1 + 1 + 1 = 9 shuffles, not 40): lane L ends
    /// with the total of value (L &gt;&gt; 2) &amp; 7 (lane bit 4 picks index bit 2, bit 3 bit 1, bit 2 bit 0).
    /// Same addition tree per value as <see cref="Sum"/>: bit-identical results.
    /// </summary>
    public static float Sum8(float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        int lane = Warp.LaneIdx;
        bool b4 = (lane & 16) != 0, b3 = (lane & 8) != 0, b2 = (lane & 4) != 0;
        float k0 = (b4 ? v4 : v0) + Warp.ShuffleXor(b4 ? v0 : v4, 16);
        float k1 = (b4 ? v5 : v1) + Warp.ShuffleXor(b4 ? v1 : v5, 16);
        float k2 = (b4 ? v6 : v2) + Warp.ShuffleXor(b4 ? v2 : v6, 16);
        float k3 = (b4 ? v7 : v3) + Warp.ShuffleXor(b4 ? v3 : v7, 16);
        float m0 = (b3 ? k2 : k0) + Warp.ShuffleXor(b3 ? k0 : k2, 8);
        float m1 = (b3 ? k3 : k1) + Warp.ShuffleXor(b3 ? k1 : k3, 8);
        float n = (b2 ? m1 : m0) + Warp.ShuffleXor(b2 ? m0 : m1, 4);
        return Tail(n, 2);
    }

    /// <summary>The remaining butterfly steps of one value, from <paramref name="offset"/> down to 1.</summary>
    private static float Tail(float value, int offset)
    {
        for (; offset > 0; offset >>= 1)
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
