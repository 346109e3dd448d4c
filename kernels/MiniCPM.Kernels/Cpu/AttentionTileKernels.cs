using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The register-blocked pieces of <see cref="PrefixAttention"/>'s tiled path, for one head:
/// <list type="bullet">
/// <item>packing: Kᵀ in panels of 16 keys ([panel][dim][16 keys]) and V with its rows padded to whole 16-float vectors,
/// so both micro-kernels read contiguous, aligned-width vectors;</item>
/// <item><see cref="Scores4x32"/>: S = Q·Kᵀ for 4 queries × 32 keys — per head dimension one broadcast per query and
/// one load per 16 keys feed 8 FMAs, accumulated in registers with no horizontal sums;</item>
/// <item><see cref="WeightedSum4x64"/> / <see cref="WeightedSum4x16"/>: O = P·V for 4 queries × 64 (or 16) output
/// dimensions — per key one broadcast per query and one load per 16 dimensions.</item>
/// </list>
/// The vector loops contain no calls so the JIT keeps every accumulator in a register.
/// </summary>
internal static unsafe class AttentionTileKernels
{
    public const int Lanes = 16;
    public const int QueryBlock = 4;
    public const int KeyBlock = 32;
    public const int WideDims = 64;

    /// <summary>Floats one head's packed keys take: keys padded to whole key blocks, all head dimensions.</summary>
    public static long PackedKeysLength(int keyCount, int headDim) => (long)RoundUp(keyCount, KeyBlock) * headDim;

    /// <summary>Head dimensions padded to whole vectors: the row pitch of packed values.</summary>
    public static int PaddedDim(int headDim) => RoundUp(headDim, Lanes);

    public static long PackedValuesLength(int keyCount, int headDim) => (long)RoundUp(keyCount, KeyBlock) * PaddedDim(headDim);

    public static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;

    /// <summary>
    /// packed[p·headDim·16 + c·16 + t] = key (16p + t)[c], zero for keys past <paramref name="keyCount"/> up to a whole
    /// key block. <paramref name="keys"/> points at the head's first column; rows are <paramref name="stride"/> apart.
    /// </summary>
    public static void PackKeysTransposed(float* keys, long stride, int keyCount, int headDim, float* packed)
    {
        int padded = RoundUp(keyCount, KeyBlock);
        for (int j = 0; j < padded; j++)
        {
            float* panel = packed + (long)(j / Lanes) * headDim * Lanes + j % Lanes;
            if (j < keyCount)
            {
                float* key = keys + j * stride;
                for (int c = 0; c < headDim; c++) panel[c * Lanes] = key[c];
            }
            else
                for (int c = 0; c < headDim; c++) panel[c * Lanes] = 0;
        }
    }

    /// <summary>packed[j·PaddedDim + c] = value j[c]; the padding columns and the rows past keyCount are zero.</summary>
    public static void PackValues(float* values, long stride, int keyCount, int headDim, float* packed)
    {
        int pitch = PaddedDim(headDim), padded = RoundUp(keyCount, KeyBlock);
        for (int j = 0; j < padded; j++)
        {
            var row = new Span<float>(packed + (long)j * pitch, pitch);
            if (j < keyCount)
            {
                new ReadOnlySpan<float>(values + j * stride, headDim).CopyTo(row);
                row[headDim..].Clear();
            }
            else
                row.Clear();
        }
    }

    /// <summary>
    /// scores[i·scoreStride + t] = Σ_c q[i·headDim + c] · key (t)[c] for queries i &lt; 4 and keys t &lt; 32 starting at
    /// the panel <paramref name="panels"/> (two consecutive 16-key panels).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scores4x32(float* q, float* panels, int headDim, float* scores, int scoreStride)
    {
        float* q0 = q, q1 = q + headDim, q2 = q + 2 * headDim, q3 = q + 3 * headDim;
        float* k0 = panels, k1 = panels + headDim * Lanes;
        Vector512<float> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector512<float> s20 = default, s21 = default, s30 = default, s31 = default;
        for (nint c = 0; c < headDim; c++)
        {
            Vector512<float> first = Vector512.Load(k0 + c * Lanes), second = Vector512.Load(k1 + c * Lanes);
            Vector512<float> b = Vector512.Create(q0[c]);
            s00 = Vector512.FusedMultiplyAdd(b, first, s00);
            s01 = Vector512.FusedMultiplyAdd(b, second, s01);
            b = Vector512.Create(q1[c]);
            s10 = Vector512.FusedMultiplyAdd(b, first, s10);
            s11 = Vector512.FusedMultiplyAdd(b, second, s11);
            b = Vector512.Create(q2[c]);
            s20 = Vector512.FusedMultiplyAdd(b, first, s20);
            s21 = Vector512.FusedMultiplyAdd(b, second, s21);
            b = Vector512.Create(q3[c]);
            s30 = Vector512.FusedMultiplyAdd(b, first, s30);
            s31 = Vector512.FusedMultiplyAdd(b, second, s31);
        }
        s00.Store(scores); s01.Store(scores + Lanes);
        scores += scoreStride;
        s10.Store(scores); s11.Store(scores + Lanes);
        scores += scoreStride;
        s20.Store(scores); s21.Store(scores + Lanes);
        scores += scoreStride;
        s30.Store(scores); s31.Store(scores + Lanes);
    }

    /// <summary>
    /// out[i·outStride + d] = Σ_{j &lt; keys} p[i·pStride + j] · values[j·valueStride + d] for queries i &lt; 4 and the 64
    /// dimensions d starting at <paramref name="values"/> / <paramref name="output"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSum4x64(float* p, int pStride, int keys, float* values, int valueStride, float* output, int outStride)
    {
        float* p0 = p, p1 = p + pStride, p2 = p + 2 * pStride, p3 = p + 3 * pStride;
        Vector512<float> o00 = default, o01 = default, o02 = default, o03 = default;
        Vector512<float> o10 = default, o11 = default, o12 = default, o13 = default;
        Vector512<float> o20 = default, o21 = default, o22 = default, o23 = default;
        Vector512<float> o30 = default, o31 = default, o32 = default, o33 = default;
        for (nint j = 0; j < keys; j++)
        {
            float* v = values + j * valueStride;
            Vector512<float> v0 = Vector512.Load(v), v1 = Vector512.Load(v + Lanes);
            Vector512<float> v2 = Vector512.Load(v + 2 * Lanes), v3 = Vector512.Load(v + 3 * Lanes);
            Vector512<float> b = Vector512.Create(p0[j]);
            o00 = Vector512.FusedMultiplyAdd(b, v0, o00);
            o01 = Vector512.FusedMultiplyAdd(b, v1, o01);
            o02 = Vector512.FusedMultiplyAdd(b, v2, o02);
            o03 = Vector512.FusedMultiplyAdd(b, v3, o03);
            b = Vector512.Create(p1[j]);
            o10 = Vector512.FusedMultiplyAdd(b, v0, o10);
            o11 = Vector512.FusedMultiplyAdd(b, v1, o11);
            o12 = Vector512.FusedMultiplyAdd(b, v2, o12);
            o13 = Vector512.FusedMultiplyAdd(b, v3, o13);
            b = Vector512.Create(p2[j]);
            o20 = Vector512.FusedMultiplyAdd(b, v0, o20);
            o21 = Vector512.FusedMultiplyAdd(b, v1, o21);
            o22 = Vector512.FusedMultiplyAdd(b, v2, o22);
            o23 = Vector512.FusedMultiplyAdd(b, v3, o23);
            b = Vector512.Create(p3[j]);
            o30 = Vector512.FusedMultiplyAdd(b, v0, o30);
            o31 = Vector512.FusedMultiplyAdd(b, v1, o31);
            o32 = Vector512.FusedMultiplyAdd(b, v2, o32);
            o33 = Vector512.FusedMultiplyAdd(b, v3, o33);
        }
        Store4(output, o00, o01, o02, o03);
        Store4(output + outStride, o10, o11, o12, o13);
        Store4(output + 2 * outStride, o20, o21, o22, o23);
        Store4(output + 3 * outStride, o30, o31, o32, o33);
    }

    /// <summary><see cref="WeightedSum4x64"/> for 16 dimensions: the tail of a head dimension that is not a multiple of 64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSum4x16(float* p, int pStride, int keys, float* values, int valueStride, float* output, int outStride)
    {
        float* p0 = p, p1 = p + pStride, p2 = p + 2 * pStride, p3 = p + 3 * pStride;
        Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default;
        for (nint j = 0; j < keys; j++)
        {
            Vector512<float> v = Vector512.Load(values + j * valueStride);
            o0 = Vector512.FusedMultiplyAdd(Vector512.Create(p0[j]), v, o0);
            o1 = Vector512.FusedMultiplyAdd(Vector512.Create(p1[j]), v, o1);
            o2 = Vector512.FusedMultiplyAdd(Vector512.Create(p2[j]), v, o2);
            o3 = Vector512.FusedMultiplyAdd(Vector512.Create(p3[j]), v, o3);
        }
        o0.Store(output);
        o1.Store(output + outStride);
        o2.Store(output + 2 * outStride);
        o3.Store(output + 3 * outStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* output, Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        a.Store(output);
        b.Store(output + Lanes);
        c.Store(output + 2 * Lanes);
        d.Store(output + 3 * Lanes);
    }
}
