using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The integer multiply-accumulate of the int8 kernels: unsigned bytes × signed bytes, each group of four adjacent
/// products summed into one int32 lane (lane k = bytes 4k..4k+3). With AVX-VNNI that is one <c>vpdpbusd</c>; without
/// it the bytes are split into even and odd 16-bit lanes and multiplied exactly with <c>vpmaddwd</c> (no saturation,
/// unlike <c>vpmaddubsw</c>, which a Q8_0 weight + 128 would overflow).
/// </summary>
internal static class ByteDot
{
    /// <summary>Whether the integer kernels can run here (AVX2 at least).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>acc + Σ₄ u·s, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        return AddSplit(acc, u, s);
    }

    /// <summary>The AVX2 form of <see cref="Add"/> (public to the tests, which hold it to the VNNI one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> AddSplit(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        Vector256<short> uEven = (u.AsUInt16() & Vector256.Create((ushort)0xFF)).AsInt16();
        Vector256<short> uOdd = Vector256.ShiftRightLogical(u.AsUInt16(), 8).AsInt16();
        Vector256<short> sEven = Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(s.AsInt16(), 8), 8);
        Vector256<short> sOdd = Vector256.ShiftRightArithmetic(s.AsInt16(), 8);
        return acc + Avx2.MultiplyAddAdjacent(uEven, sEven) + Avx2.MultiplyAddAdjacent(uOdd, sOdd);
    }

    /// <summary>
    /// Σ over 32 small unsigned quants (≤ 63) × activations, weighted per 16: lanes 0..3 carry bytes 0..15 times
    /// <paramref name="scaleLow"/>, lanes 4..7 bytes 16..31 times <paramref name="scaleHigh"/> — <c>vpmaddubsw</c> (pair
    /// sums ≤ 2·63·127, no saturation) then <c>vpmaddwd</c> with the scales, as ggml's AVX2 K-quant kernels do.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> ScaledPairs(Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), scales);
}
