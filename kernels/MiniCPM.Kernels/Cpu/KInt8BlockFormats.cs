using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A 256-element K-quant super-block as the int8 kernels see it, after <see cref="Unpack"/>: 256 unsigned quants u
/// (≤ 63, element order), and per group of 16 elements an integer scale s and an integer min m, with weight value
/// d·s·u − dmin·m. Against a Q8_K activation block (dₐ, quants a, bsums) the block adds
/// dₐ·(d·Σ_g s_g·Σ u·a − dmin·Σ_g m_g·bsum_g): the two integer sums of ggml's vec_dot_*_q8_K.
/// When <see cref="MinIsOffset"/> (Q3_K, Q6_K: value d·s·(u − offset)) dmin = d and m = offset·s, and the kernels
/// subtract the integers before converting, as ggml does.
/// </summary>
internal unsafe interface IKInt8Blocks
{
    static abstract int BlockBytes { get; }

    static abstract bool MinIsOffset { get; }

    /// <summary>Writes quants[256], scales[16], mins[16]; returns (d, dmin).</summary>
    static abstract (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins);
}

internal static unsafe class KUnpack
{
    public static Vector256<byte> LowNibbles(Vector256<byte> v) => v & Vector256.Create((byte)0x0F);

    public static Vector256<byte> HighNibbles(Vector256<byte> v) => Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    /// <summary>Bits <paramref name="shift"/>..shift+1 of every byte, in bits 0..1.</summary>
    public static Vector256<byte> TwoBits(Vector256<byte> v, int shift) =>
        Vector256.ShiftRightLogical(v.AsUInt16(), shift).AsByte() & Vector256.Create((byte)3);

    /// <summary>Bit <paramref name="bit"/> of every byte moved to bit <paramref name="to"/> (0 or 1 there).</summary>
    public static Vector256<byte> Bit(Vector256<byte> v, int bit, byte to)
    {
        Vector256<byte> mask = Vector256.Create((byte)(1 << bit));
        return Vector256.Equals(v & mask, mask) & Vector256.Create(to);
    }

    /// <summary>The 6-bit (scale, min) pairs of Q4_K/Q5_K (ggml's get_scale_min_k4), each doubled to the two 16-groups of its 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleMin6(byte* packed, short* scales, short* mins)
    {
        for (int j = 0; j < 8; j++)
        {
            int sc, m;
            if (j < 4)
            {
                sc = packed[j] & 63;
                m = packed[j + 4] & 63;
            }
            else
            {
                sc = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
                m = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
            }
            scales[2 * j] = scales[2 * j + 1] = (short)sc;
            mins[2 * j] = mins[2 * j + 1] = (short)m;
        }
    }
}

/// <summary>Q2_K (84 bytes): scales[16] (scale low nibble, min high), qs[64] (2 bits), f16 d, f16 dmin.</summary>
internal readonly unsafe struct Q2_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 84;
    public static bool MinIsOffset => false;

    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins)
    {
        for (int g = 0; g < 16; g++)
        {
            scales[g] = (short)(block[g] & 0x0F);
            mins[g] = (short)(block[g] >> 4);
        }
        // Element 128·half + 32·j + l is bits 2j..2j+1 of qs[32·half + l].
        for (int half = 0; half < 2; half++)
        {
            Vector256<byte> q = Vector256.Load(block + 16 + 32 * half);
            for (int j = 0; j < 4; j++) KUnpack.TwoBits(q, 2 * j).Store(quants + 128 * half + 32 * j);
        }
        return (HalfBits.ToFloat(*(ushort*)(block + 80)), HalfBits.ToFloat(*(ushort*)(block + 82)));
    }
}

/// <summary>Q3_K (110 bytes): hmask[32], qs[64] (2 low bits), 12 bytes of 6-bit scales (−32), f16 d; value d·(sc−32)·(u − 4).</summary>
internal readonly unsafe struct Q3_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 110;
    public static bool MinIsOffset => true;

    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins)
    {
        byte* packed = block + 96;
        for (int g = 0; g < 16; g++)
        {
            int low4 = g < 8 ? packed[g] & 0x0F : packed[g - 8] >> 4;
            int high2 = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
            int sc = (low4 | (high2 << 4)) - 32;
            scales[g] = (short)sc;
            mins[g] = (short)(4 * sc);
        }
        // Element 128·half + 32·j + l: bits 2j..2j+1 of qs[32·half + l], plus 4 when bit 4·half + j of hmask[l] is set.
        Vector256<byte> hmask = Vector256.Load(block);
        for (int half = 0; half < 2; half++)
        {
            Vector256<byte> q = Vector256.Load(block + 32 + 32 * half);
            for (int j = 0; j < 4; j++)
                (KUnpack.TwoBits(q, 2 * j) | KUnpack.Bit(hmask, 4 * half + j, 4)).Store(quants + 128 * half + 32 * j);
        }
        float d = HalfBits.ToFloat(*(ushort*)(block + 108));
        return (d, d);
    }
}

/// <summary>Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit (scale, min), qs[128] (nibbles).</summary>
internal readonly unsafe struct Q4_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 144;
    public static bool MinIsOffset => false;

    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins)
    {
        KUnpack.ScaleMin6(block + 4, scales, mins);
        // Group g's 32 bytes: low nibbles are elements 64g..64g+31, high nibbles the next 32.
        for (int g = 0; g < 4; g++)
        {
            Vector256<byte> q = Vector256.Load(block + 16 + 32 * g);
            KUnpack.LowNibbles(q).Store(quants + 64 * g);
            KUnpack.HighNibbles(q).Store(quants + 64 * g + 32);
        }
        return (HalfBits.ToFloat(*(ushort*)block), HalfBits.ToFloat(*(ushort*)(block + 2)));
    }
}

/// <summary>Q5_K (176 bytes): f16 d, f16 dmin, 12 bytes of 6-bit (scale, min), qh[32], qs[128].</summary>
internal readonly unsafe struct Q5_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 176;
    public static bool MinIsOffset => false;

    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins)
    {
        KUnpack.ScaleMin6(block + 4, scales, mins);
        // As Q4_K, with bit 2g (low nibbles) or 2g+1 (high nibbles) of qh[l] as the fifth bit.
        Vector256<byte> qh = Vector256.Load(block + 16);
        for (int g = 0; g < 4; g++)
        {
            Vector256<byte> q = Vector256.Load(block + 48 + 32 * g);
            (KUnpack.LowNibbles(q) | KUnpack.Bit(qh, 2 * g, 16)).Store(quants + 64 * g);
            (KUnpack.HighNibbles(q) | KUnpack.Bit(qh, 2 * g + 1, 16)).Store(quants + 64 * g + 32);
        }
        return (HalfBits.ToFloat(*(ushort*)block), HalfBits.ToFloat(*(ushort*)(block + 2)));
    }
}

/// <summary>Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d; value d·sc·(u − 32).</summary>
internal readonly unsafe struct Q6_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 210;
    public static bool MinIsOffset => true;

    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* scales, short* mins)
    {
        sbyte* sc = (sbyte*)(block + 192);
        for (int g = 0; g < 16; g++)
        {
            scales[g] = sc[g];
            mins[g] = (short)(32 * sc[g]);
        }
        // Half h, l in 0..31: element 128h + 32k + l takes the low (k < 2) or high nibble of ql[64h + l] (k even)
        // or ql[64h + 32 + l] (k odd), and bits 2k..2k+1 of qh[32h + l] as bits 4..5.
        for (int half = 0; half < 2; half++)
        {
            Vector256<byte> lowA = Vector256.Load(block + 64 * half), lowB = Vector256.Load(block + 64 * half + 32);
            Vector256<byte> h = Vector256.Load(block + 128 + 32 * half);
            byte* q = quants + 128 * half;
            (KUnpack.LowNibbles(lowA) | Vector256.ShiftLeft(KUnpack.TwoBits(h, 0), 4)).Store(q);
            (KUnpack.LowNibbles(lowB) | Vector256.ShiftLeft(KUnpack.TwoBits(h, 2), 4)).Store(q + 32);
            (KUnpack.HighNibbles(lowA) | Vector256.ShiftLeft(KUnpack.TwoBits(h, 4), 4)).Store(q + 64);
            (KUnpack.HighNibbles(lowB) | Vector256.ShiftLeft(KUnpack.TwoBits(h, 6), 4)).Store(q + 96);
        }
        float d = HalfBits.ToFloat(*(ushort*)(block + 208));
        return (d, d);
    }
}
