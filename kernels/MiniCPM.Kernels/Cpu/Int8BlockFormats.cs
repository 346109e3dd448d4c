using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A 32-element weight block as the int8 kernels see it: 32 unsigned quants u (one byte each, in element order) with
/// weight value d·(u − offset) (+ m for the types with a min), d the f16 in the block's first two bytes and m the f16
/// after it. Against a Q8_0/Q8_1 activation block (scale dₐ, quants a, Σa) the block adds
/// d·dₐ·(Σ u·a − offset·Σa) (+ m·s, Q8_1's s ≈ dₐ·Σa) — the integer part exactly as ggml's vec_dot_*_q8_* forms it.
/// </summary>
internal unsafe interface IInt8Blocks
{
    static abstract int BlockBytes { get; }

    /// <summary>log2 of the offset (8, 16 or 128), or −1 for the types with a min instead.</summary>
    static abstract int OffsetShift { get; }

    /// <summary>The 32 quants as unsigned bytes, element order.</summary>
    static abstract Vector256<byte> Quants(byte* block);
}

internal static unsafe class Int8Block
{
    /// <summary>The 16 bytes' low nibbles (elements 0..15) then high nibbles (16..31) — the Q4/Q5 packing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* packed)
    {
        // The 16 bytes in both halves (one broadcast load), the upper half shifted right by 4, then the low nibbles:
        // three ops where extracting and re-inserting halves takes five.
        Vector256<byte> both = Vector256.Create(Vector128.Load(packed));
        Vector256<ushort> shifted;
        if (Avx512BW.VL.IsSupported)
            shifted = Avx512BW.VL.ShiftRightLogicalVariable(both.AsUInt16(), Vector256.Create((ushort)0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4));
        else
            shifted = Avx2.Blend(both.AsInt32(), Vector256.ShiftRightLogical(both.AsUInt16(), 4).AsInt32(), 0xF0).AsUInt16();
        return shifted.AsByte() & Vector256.Create((byte)0x0F);
    }

    /// <summary>Bit j of the 32-bit <paramref name="bits"/> as 0x10 in byte j (the fifth bit of Q5_0/Q5_1 quants).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> FifthBits(uint bits)
    {
        // Byte j takes byte j/8 of the word (vpshufb within each 128-bit half of the broadcast word), then keeps bit j%8.
        Vector256<byte> word = Vector256.Create(bits).AsByte();
        Vector256<byte> spread = Avx2.Shuffle(word, Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        Vector256<byte> bit = Vector256.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
            1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)0x10);
    }
}

/// <summary>Q4_0 (18 bytes): f16 d, 16 bytes of nibbles; value d·(u − 8).</summary>
internal readonly unsafe struct Q4_0Int8 : IInt8Blocks
{
    public static int BlockBytes => 18;
    public static int OffsetShift => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Int8Block.Nibbles(block + 2);
}

/// <summary>Q4_1 (20 bytes): f16 d, f16 m, 16 bytes of nibbles; value d·u + m.</summary>
internal readonly unsafe struct Q4_1Int8 : IInt8Blocks
{
    public static int BlockBytes => 20;
    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Int8Block.Nibbles(block + 4);
}

/// <summary>Q5_0 (22 bytes): f16 d, 32 fifth bits, 16 bytes of nibbles; value d·(u − 16).</summary>
internal readonly unsafe struct Q5_0Int8 : IInt8Blocks
{
    public static int BlockBytes => 22;
    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Int8Block.Nibbles(block + 6) | Int8Block.FifthBits(Unsafe.ReadUnaligned<uint>(block + 2));
}

/// <summary>Q5_1 (24 bytes): f16 d, f16 m, 32 fifth bits, 16 bytes of nibbles; value d·u + m.</summary>
internal readonly unsafe struct Q5_1Int8 : IInt8Blocks
{
    public static int BlockBytes => 24;
    public static int OffsetShift => -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Int8Block.Nibbles(block + 8) | Int8Block.FifthBits(Unsafe.ReadUnaligned<uint>(block + 4));
}

/// <summary>Q8_0 (34 bytes): f16 d, 32 int8 quants q; as unsigned u = q + 128 (the sign bit flipped), value d·(u − 128).</summary>
internal readonly unsafe struct Q8_0Int8 : IInt8Blocks
{
    public static int BlockBytes => 34;
    public static int OffsetShift => 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Vector256.Load(block + 2) ^ Vector256.Create((byte)0x80);
}
