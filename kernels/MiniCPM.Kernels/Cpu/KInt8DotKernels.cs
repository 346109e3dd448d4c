using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Dot products of K-quant rows with Q8_K int8 activations. Each super-block is unpacked once
/// (<see cref="IKInt8Blocks.Unpack"/>: quants to bytes, scales and mins to 16-bit) into a small stack buffer, then
/// dotted with one token (matrix-vector) or four (prefill: the unpacking is paid once per four tokens).
/// Per 32 quants: <c>vpmaddubsw</c> with the activations (pair sums), <c>vpmaddwd</c> with the two groups' scales,
/// added into 8 int32 lanes; the mins meet the activation bsums in one more <c>vpmaddwd</c>. Both sums are exact
/// integers — ggml's — and the block adds dₐ·d·Σ − dₐ·dmin·Σm in float.
/// </summary>
internal static unsafe class KInt8DotKernels<TBlocks> where TBlocks : IKInt8Blocks
{
    private const int BlockElements = 256;

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 256).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, Int8Vector* x, int cols)
    {
        int blocks = cols / BlockElements;
        byte* quants = stackalloc byte[BlockElements + 64];
        quants = (byte*)(((nint)quants + 31) & ~(nint)31);
        short* scales = stackalloc short[16];
        short* mins = stackalloc short[16];
        float sum = 0;
        for (nint b = 0; b < blocks; b++)
        {
            var (d, dmin) = TBlocks.Unpack(w + b * TBlocks.BlockBytes, quants, scales, mins);
            sum += BlockDot(quants, scales, mins, d, dmin, x, b);
        }
        return sum;
    }

    /// <summary>y[t·yStride + r] = row r · x_t for two rows and the four tokens x[0..4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2Rows4Tokens(byte* w, long rowStride, Int8Vector* x, int cols, float* y, long yStride)
    {
        int blocks = cols / BlockElements;
        byte* quants = stackalloc byte[BlockElements + 64];
        quants = (byte*)(((nint)quants + 31) & ~(nint)31);
        short* scales = stackalloc short[16];
        short* mins = stackalloc short[16];
        for (int r = 0; r < 2; r++)
        {
            byte* row = w + r * rowStride;
            Vector128<float> sums = Vector128<float>.Zero;
            for (nint b = 0; b < blocks; b++)
            {
                var (d, dmin) = TBlocks.Unpack(row + b * TBlocks.BlockBytes, quants, scales, mins);
                sums += Vector128.Create(
                    BlockDot(quants, scales, mins, d, dmin, x, b),
                    BlockDot(quants, scales, mins, d, dmin, x + 1, b),
                    BlockDot(quants, scales, mins, d, dmin, x + 2, b),
                    BlockDot(quants, scales, mins, d, dmin, x + 3, b));
            }
            for (int t = 0; t < 4; t++) y[t * yStride + r] = sums[t];
        }
    }

    /// <summary>One unpacked super-block · activation block <paramref name="b"/> of <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockDot(byte* quants, short* scales, short* mins, float d, float dmin, Int8Vector* x, nint b)
    {
        sbyte* a = x->Quants + b * BlockElements;
        var acc0 = Vector256<int>.Zero;
        var acc1 = Vector256<int>.Zero;
        for (int j = 0; j < 8; j += 2)
        {
            acc0 += ByteDot.ScaledPairs(Vector256.Load(quants + 32 * j), Vector256.Load(a + 32 * j), GroupScales(scales, j));
            acc1 += ByteDot.ScaledPairs(Vector256.Load(quants + 32 * j + 32), Vector256.Load(a + 32 * j + 32), GroupScales(scales, j + 1));
        }
        int sumQ = Vector256.Sum(acc0 + acc1);
        int sumM = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(mins), Vector256.Load(x->GroupSums + b * 16)));
        float da = x->Scales[b];
        return TBlocks.MinIsOffset ? da * d * (sumQ - sumM) : da * d * sumQ - da * dmin * sumM;
    }

    /// <summary>Chunk j's scales as vpmaddwd wants them: groups 2j (lanes 0..7) and 2j+1 (lanes 8..15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> GroupScales(short* scales, int j) =>
        Vector256.Create(Vector128.Create(scales[2 * j]), Vector128.Create(scales[2 * j + 1]));
}
