using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Dot products of K-quant rows with Q8_K int8 activations. Each super-block is unpacked once
/// (<see cref="IKInt8Blocks.Unpack"/>: quants to bytes, scales to per-chunk 16-bit vectors, mins to 16-bit) into a
/// small stack buffer, then dotted with one token (matrix-vector) or four (prefill: the unpacking is paid once per
/// four tokens). Per 32 quants: <c>vpmaddubsw</c> with the activations (pair sums), <c>vpmaddwd</c> with the chunk's
/// scales, added into 8 int32 lanes; the mins meet the activation bsums in one more <c>vpmaddwd</c>. The lanes hold
/// ggml's exact integer partial sums; each block converts them to float and adds them with one FMA by dₐ·d (and one
/// by −dₐ·dmin for the mins), as ggml's AVX2 kernels do.
/// </summary>
internal static unsafe class KInt8DotKernels<TBlocks> where TBlocks : IKInt8Blocks
{
    private const int BlockElements = 256;

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 256).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, Int8Vector* x, int cols)
    {
        int blocks = cols / BlockElements;
        byte* buffer = stackalloc byte[BlockElements + 8 * 32 + 32 + 32];
        byte* quants = (byte*)(((nint)buffer + 31) & ~(nint)31);
        short* chunkScales = (short*)(quants + BlockElements);
        short* mins = chunkScales + 8 * 16;
        var acc = Vector256<float>.Zero;
        for (nint b = 0; b < blocks; b++)
        {
            var (d, dmin) = TBlocks.Unpack(w + b * TBlocks.BlockBytes, quants, chunkScales, mins);
            BlockDot(quants, chunkScales, mins, d, dmin, x, b, ref acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>y[t·yStride + r] = row r · x_t for two rows and the four tokens x[0..4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2Rows4Tokens(byte* w, long rowStride, Int8Vector* x, int cols, float* y, long yStride)
    {
        int blocks = cols / BlockElements;
        byte* buffer = stackalloc byte[BlockElements + 8 * 32 + 32 + 32];
        byte* quants = (byte*)(((nint)buffer + 31) & ~(nint)31);
        short* chunkScales = (short*)(quants + BlockElements);
        short* mins = chunkScales + 8 * 16;
        for (int r = 0; r < 2; r++)
        {
            byte* row = w + r * rowStride;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (nint b = 0; b < blocks; b++)
            {
                var (d, dmin) = TBlocks.Unpack(row + b * TBlocks.BlockBytes, quants, chunkScales, mins);
                BlockDot(quants, chunkScales, mins, d, dmin, x, b, ref a0);
                BlockDot(quants, chunkScales, mins, d, dmin, x + 1, b, ref a1);
                BlockDot(quants, chunkScales, mins, d, dmin, x + 2, b, ref a2);
                BlockDot(quants, chunkScales, mins, d, dmin, x + 3, b, ref a3);
            }
            y[r] = Vector256.Sum(a0);
            y[yStride + r] = Vector256.Sum(a1);
            y[2 * yStride + r] = Vector256.Sum(a2);
            y[3 * yStride + r] = Vector256.Sum(a3);
        }
    }

    /// <summary>Adds one unpacked super-block · activation block <paramref name="b"/> of <paramref name="x"/> into <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BlockDot(byte* quants, short* chunkScales, short* mins, float d, float dmin, Int8Vector* x, nint b,
        ref Vector256<float> acc)
    {
        sbyte* a = x->Quants + b * BlockElements;
        var sum0 = Vector256<int>.Zero;
        var sum1 = Vector256<int>.Zero;
        for (int j = 0; j < 8; j += 2)
        {
            sum0 += ByteDot.ScaledPairs(Vector256.Load(quants + 32 * j), Vector256.Load(a + 32 * j), Vector256.Load(chunkScales + 16 * j));
            sum1 += ByteDot.ScaledPairs(Vector256.Load(quants + 32 * j + 32), Vector256.Load(a + 32 * j + 32), Vector256.Load(chunkScales + 16 * j + 16));
        }
        Vector256<int> minSums = Avx2.MultiplyAddAdjacent(Vector256.Load(mins), Vector256.Load(x->GroupSums + b * 16));
        float da = x->Scales[b];
        if (TBlocks.MinIsOffset)
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum0 + sum1 - minSums), Vector256.Create(da * d), acc);
        else
        {
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum0 + sum1), Vector256.Create(da * d), acc);
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(minSums), Vector256.Create(-(da * dmin)), acc);
        }
    }
}
