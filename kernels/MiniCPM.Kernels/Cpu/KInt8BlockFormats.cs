using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A 256-element K-quant super-block as the int8 kernels see it, after <see cref="Unpack"/>: 256 unsigned quants u
/// (≤ 63, element order), and per group of 16 elements an integer scale s and an integer min m, with weight value
/// d·s·u − dmin·m. The scales are written as the kernels consume them: per chunk of 32 quants one vector of 16
/// shorts, s of the chunk's first group in lanes 0..7 and of its second in lanes 8..15 (<c>vpmaddwd</c>'s operand). Against a Q8_K activation block (dₐ, quants a, bsums) the block adds
/// dₐ·(d·Σ_g s_g·Σ u·a − dmin·Σ_g m_g·bsum_g): the two integer sums of ggml's vec_dot_*_q8_K.
/// When <see cref="MinIsOffset"/> (Q3_K, Q6_K: value d·s·(u − offset)) dmin = d and m = offset·s, and the kernels
/// subtract the integers before converting, as ggml does.
/// </summary>
internal unsafe interface IKInt8Blocks
{
    static abstract int BlockBytes { get; }

    static abstract bool MinIsOffset { get; }

    /// <summary>
    /// Writes quants[256], chunkScales[8 × 16], mins[16]; returns (d, dmin). Implementations are inlined into the
    /// kernels: a call in a kernel's block loop makes the JIT keep the accumulators in stack slots (measured 3× slower).
    /// </summary>
    static abstract (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins);
}

internal static unsafe class KUnpack
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LowNibbles(Vector256<byte> v) => v & Vector256.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighNibbles(Vector256<byte> v) => Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    /// <summary>Bits <paramref name="shift"/>..shift+1 of every byte, in bits 0..1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> TwoBits(Vector256<byte> v, int shift) =>
        Vector256.ShiftRightLogical(v.AsUInt16(), shift).AsByte() & Vector256.Create((byte)3);

    /// <summary>Bit <paramref name="bit"/> of every byte as 0x10 (16-bit shifts; the mask drops what crossed bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> FifthBit(Vector256<byte> v, int bit) =>
        (bit >= 4 ? Vector256.ShiftRightLogical(v.AsUInt16(), bit - 4) : Vector256.ShiftLeft(v.AsUInt16(), 4 - bit)).AsByte() & Vector256.Create((byte)0x10);

    /// <summary>Bits 2k..2k+1 of every byte moved to bits 4..5 (Q6_K's high bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighPair(Vector256<byte> v, int k) =>
        (k >= 2 ? Vector256.ShiftRightLogical(v.AsUInt16(), 2 * k - 4) : Vector256.ShiftLeft(v.AsUInt16(), 4 - 2 * k)).AsByte() & Vector256.Create((byte)0x30);

    /// <summary>Bit <paramref name="bit"/> of every byte as <paramref name="to"/> (0 or to there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Bit(Vector256<byte> v, int bit, byte to)
    {
        Vector256<byte> mask = Vector256.Create((byte)(1 << bit));
        return Vector256.Equals(v & mask, mask) & Vector256.Create(to);
    }

    /// <summary>
    /// The 6-bit (scale, min) pairs of Q4_K/Q5_K (ggml's get_scale_min_k4) unpacked with 32-bit word operations:
    /// sub-blocks 0..3 are the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 take their low 4 bits from
    /// the nibbles of bytes 8..11 and their top 2 bits from the spare top bits of bytes 0..3 (scales) or 4..7 (mins).
    /// Each sub-block's scale serves both 16-groups of its chunk; each min is written for both groups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleMin6(byte* packed, short* chunkScales, short* mins)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(packed), u1 = Unsafe.ReadUnaligned<uint>(packed + 4), u2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint scalesLow = u0 & 0x3F3F3F3F;
        uint minsLow = u1 & 0x3F3F3F3F;
        uint scalesHigh = (u2 & 0x0F0F0F0F) | ((u0 >> 6) & 0x03030303) << 4;
        uint minsHigh = ((u2 >> 4) & 0x0F0F0F0F) | ((u1 >> 6) & 0x03030303) << 4;
        // Bytes: scales 0..7 then mins 0..7, widened to shorts.
        Vector256<short> all = Vector256.WidenLower(Vector256.Create(Vector128.Create(scalesLow, scalesHigh, minsLow, minsHigh).AsByte(), default)).AsInt16();
        // Parked in the last chunk's slot, then each scale broadcast from memory (chunk 7 reads its scale before
        // overwriting the slot).
        short* parked = chunkScales + 16 * 7;
        all.Store(parked);
        for (int j = 0; j < 8; j++) Vector256.Create(parked[j]).Store(chunkScales + 16 * j);
        Vector128<short> m = all.GetUpper();
        Vector256.Create(Sse2.UnpackLow(m, m), Sse2.UnpackHigh(m, m)).Store(mins);
    }

    /// <summary>Sixteen per-group scales (one per 16 elements) written as the eight chunk vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GroupScales(Vector256<short> scales, short* chunkScales)
    {
        // Chunk j's index vector is (0 ×8, 1 ×8) + 2j: one broadcast and one add, no per-lane construction.
        Vector256<short> halves = Vector256.Create((short)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        for (int j = 0; j < 8; j++)
        {
            if (Avx512BW.VL.IsSupported)
                Avx512BW.VL.PermuteVar16x16(scales, halves + Vector256.Create((short)(2 * j))).Store(chunkScales + 16 * j);
            else
                Vector256.Create(Vector128.Create(scales.GetElement(2 * j)), Vector128.Create(scales.GetElement(2 * j + 1))).Store(chunkScales + 16 * j);
        }
    }
}

/// <summary>Q2_K (84 bytes): scales[16] (scale low nibble, min high), qs[64] (2 bits), f16 d, f16 dmin.</summary>
internal readonly unsafe struct Q2_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 84;
    public static bool MinIsOffset => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins)
    {
        Vector128<byte> packed = Vector128.Load(block);
        KUnpack.GroupScales(Vector256.WidenLower(Vector256.Create(packed & Vector128.Create((byte)0x0F), default)).AsInt16(), chunkScales);
        Vector256.WidenLower(Vector256.Create(Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F), default)).AsInt16().Store(mins);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins)
    {
        // 6-bit scales: low 4 bits in the nibbles of bytes 0..7 (groups 0..7 low, 8..15 high); top 2 bits of group g
        // at bits 2·(g/4) of byte 8 + g%4. Then −32.
        byte* packed = block + 96;
        ulong low = Unsafe.ReadUnaligned<ulong>(packed);
        uint top = Unsafe.ReadUnaligned<uint>(packed + 8);
        Vector128<byte> low4 = Vector128.Create(low & 0x0F0F0F0F0F0F0F0F, (low >> 4) & 0x0F0F0F0F0F0F0F0F).AsByte();
        Vector128<byte> high2 = Vector128.Create(top & 0x03030303, (top >> 2) & 0x03030303, (top >> 4) & 0x03030303, (top >> 6) & 0x03030303).AsByte();
        Vector256<short> scales = Vector256.WidenLower(Vector256.Create(low4 | Vector128.ShiftLeft(high2, 4), default)).AsInt16() - Vector256.Create((short)32);
        KUnpack.GroupScales(scales, chunkScales);
        Vector256.ShiftLeft(scales, 2).Store(mins);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins)
    {
        KUnpack.ScaleMin6(block + 4, chunkScales, mins);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins)
    {
        KUnpack.ScaleMin6(block + 4, chunkScales, mins);
        // As Q4_K, with bit 2g (low nibbles) or 2g+1 (high nibbles) of qh[l] as the fifth bit.
        Vector256<byte> qh = Vector256.Load(block + 16);
        for (int g = 0; g < 4; g++)
        {
            Vector256<byte> q = Vector256.Load(block + 48 + 32 * g);
            (KUnpack.LowNibbles(q) | KUnpack.FifthBit(qh, 2 * g)).Store(quants + 64 * g);
            (KUnpack.HighNibbles(q) | KUnpack.FifthBit(qh, 2 * g + 1)).Store(quants + 64 * g + 32);
        }
        return (HalfBits.ToFloat(*(ushort*)block), HalfBits.ToFloat(*(ushort*)(block + 2)));
    }
}

/// <summary>Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d; value d·sc·(u − 32).</summary>
internal readonly unsafe struct Q6_KInt8 : IKInt8Blocks
{
    public static int BlockBytes => 210;
    public static bool MinIsOffset => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float D, float DMin) Unpack(byte* block, byte* quants, short* chunkScales, short* mins)
    {
        Vector256<short> scales = Vector256.WidenLower(Vector256.Create(Vector128.Load((sbyte*)(block + 192)), default));
        KUnpack.GroupScales(scales, chunkScales);
        Vector256.ShiftLeft(scales, 5).Store(mins);
        // Half h, l in 0..31: element 128h + 32k + l takes the low (k < 2) or high nibble of ql[64h + l] (k even)
        // or ql[64h + 32 + l] (k odd), and bits 2k..2k+1 of qh[32h + l] as bits 4..5.
        for (int half = 0; half < 2; half++)
        {
            Vector256<byte> lowA = Vector256.Load(block + 64 * half), lowB = Vector256.Load(block + 64 * half + 32);
            Vector256<byte> h = Vector256.Load(block + 128 + 32 * half);
            byte* q = quants + 128 * half;
            (KUnpack.LowNibbles(lowA) | KUnpack.HighPair(h, 0)).Store(q);
            (KUnpack.LowNibbles(lowB) | KUnpack.HighPair(h, 1)).Store(q + 32);
            (KUnpack.HighNibbles(lowA) | KUnpack.HighPair(h, 2)).Store(q + 64);
            (KUnpack.HighNibbles(lowB) | KUnpack.HighPair(h, 3)).Store(q + 96);
        }
        float d = HalfBits.ToFloat(*(ushort*)(block + 208));
        return (d, d);
    }
}
