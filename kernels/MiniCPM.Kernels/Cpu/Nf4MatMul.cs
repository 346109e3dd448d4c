using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Formats.Int4;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// y = W·x (+ b) with W a bitsandbytes NF4 weight (<see cref="Nf4Tensor"/>), fused: the 4-bit codes are read in place.
/// <para>
/// Per block the 16-entry code book is multiplied by the block's scale once (16 products, each exactly the
/// reference's <c>CodeBook[c] · absmax</c>), and with AVX-512 every code is looked up in that scaled table by
/// <c>vpermps</c>, which reads only the low 4 bits of an index lane: 16 packed bytes zero-extended to dword lanes give
/// the odd elements directly and the even ones after a 4-bit shift. The effective weights are therefore bit-identical
/// to <see cref="Int4Dequantizer.Nf4Rows"/>; only the float32 summation order differs. Because a byte holds two
/// neighbouring elements, the activations are read in the <see cref="PairSplit"/> layout (evens then odds per 32).
/// </para>
/// <para>
/// Many tokens: pairs of rows are dequantized into a per-thread float32 buffer and multiplied by the token block with
/// the F32 kernels, so each row is decoded once per call whatever the token count.
/// </para>
/// Rows must hold whole blocks (cols a multiple of the block size, itself a multiple of 32).
/// </summary>
public static unsafe class Nf4MatMul
{
    private const int Half = 32;

    /// <summary>Whether the kernels can multiply by <paramref name="w"/> (block layout constraints); the reason if not.</summary>
    public static string? Unsupported(in Nf4Tensor w)
    {
        if (w.BlockSize % Half != 0) return $"block size {w.BlockSize} is not a multiple of {Half}";
        if (w.Cols % w.BlockSize != 0) return $"rows of {w.Cols} values are not whole blocks of {w.BlockSize}";
        return null;
    }

    /// <summary>Y[t] = W·X[t] (+ bias) for <paramref name="tokens"/> rows of X ([tokens, cols]) into Y ([tokens, rows]).</summary>
    public static void Multiply(in Nf4Tensor w, ReadOnlySpan<float> x, int tokens, Span<float> y,
        ReadOnlySpan<float> bias = default, CpuThreadPool? pool = null)
    {
        if (Unsupported(w) is { } reason) throw new NotSupportedException($"NF4 matrix products: {reason}");
        Int4Checks.Shapes(w.Rows, w.Cols, x, tokens, y, bias);
        if (tokens == 0 || w.Rows == 0) return;
        fixed (float* xp = x, yp = y, bp = bias)
        {
            float* b = bias.IsEmpty ? null : bp;
            if (tokens == 1)
            {
                float* split = (float*)NativeMemory.AlignedAlloc((nuint)w.Cols * sizeof(float), 64);
                try
                {
                    PairSplit.Copy(xp, split, w.Cols);
                    var job = new MatVecJob(w, split, yp, b);
                    if (pool is null) job.Execute(0, w.Rows);
                    else pool.For(w.Rows, job, grain: 4);
                }
                finally
                {
                    NativeMemory.AlignedFree(split);
                }
            }
            else
            {
                var job = new MultiTokenJob(w, xp, tokens, yp, b);
                if (pool is null) job.Execute(0, w.Rows);
                else pool.For(w.Rows, job, grain: 2);
            }
        }
    }

    /// <summary>Row <paramref name="row"/> · x, with x in the <see cref="PairSplit"/> layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotRow(in Nf4Tensor w, int row, float* xSplit)
    {
        int cols = w.Cols, blockSize = w.BlockSize;
        long firstBlock = (long)row * cols / blockSize;
        byte* codes = w.Codes + (long)row * cols / 2;
        int blocks = cols / blockSize;
        if (!Avx512F.IsSupported)
        {
            float sum = 0;
            for (int c = 0; c < cols; c++)
            {
                long j = (long)row * cols + c;
                float weight = w.CodeBook[w.Code(j)] * w.BlockScale(j / blockSize);
                sum += weight * xSplit[SplitIndex(c)];
            }
            return sum;
        }
        Vector512<float> book = Vector512.Load(w.CodeBook);
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        var scales = new BlockScales(w, firstBlock);
        for (int b = 0; b < blocks; b++)
        {
            Vector512<float> table = book * Vector512.Create(scales.Next());
            int c0 = b * blockSize;
            for (int c = c0; c < c0 + blockSize; c += Half)
            {
                Vector512<int> packed = Avx512F.ConvertToVector512Int32(Vector128.Load(codes + c / 2));
                Vector512<float> even = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(packed, 4));
                Vector512<float> odd = Avx512F.PermuteVar16x32(table, packed);
                acc0 = Vector512.FusedMultiplyAdd(even, Vector512.Load(xSplit + c), acc0);
                acc1 = Vector512.FusedMultiplyAdd(odd, Vector512.Load(xSplit + c + 16), acc1);
            }
        }
        return Vector512.Sum(acc0 + acc1);
    }

    /// <summary>
    /// Rows <paramref name="row"/> + k·<paramref name="spacing"/> (k = 0..3) · x into y[0..3]: each activation load
    /// serves four rows (with one row at a time the split activations, 8× the bytes of the codes, are re-read from L2
    /// for every row and limit the kernel). AVX-512 only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Rows(in Nf4Tensor w, int row, int spacing, float* xSplit, float* y)
    {
        int cols = w.Cols, blockSize = w.BlockSize, blocks = cols / blockSize;
        long rowBlocks = cols / blockSize;
        byte* c0p = w.Codes + (long)row * cols / 2, c1p = c0p + (long)spacing * cols / 2;
        byte* c2p = c1p + (long)spacing * cols / 2, c3p = c2p + (long)spacing * cols / 2;
        var s0 = new BlockScales(w, row * rowBlocks);
        var s1 = new BlockScales(w, (row + spacing) * rowBlocks);
        var s2 = new BlockScales(w, (row + 2L * spacing) * rowBlocks);
        var s3 = new BlockScales(w, (row + 3L * spacing) * rowBlocks);
        Vector512<float> book = Vector512.Load(w.CodeBook);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            Vector512<float> t0 = book * Vector512.Create(s0.Next()), t1 = book * Vector512.Create(s1.Next());
            Vector512<float> t2 = book * Vector512.Create(s2.Next()), t3 = book * Vector512.Create(s3.Next());
            int first = b * blockSize;
            for (int c = first; c < first + blockSize; c += Half)
            {
                Vector512<float> xe = Vector512.Load(xSplit + c), xo = Vector512.Load(xSplit + c + 16);
                a0 = Accumulate(t0, c0p + c / 2, xe, xo, a0);
                a1 = Accumulate(t1, c1p + c / 2, xe, xo, a1);
                a2 = Accumulate(t2, c2p + c / 2, xe, xo, a2);
                a3 = Accumulate(t3, c3p + c / 2, xe, xo, a3);
            }
        }
        y[0] = Vector512.Sum(a0);
        y[1] = Vector512.Sum(a1);
        y[2] = Vector512.Sum(a2);
        y[3] = Vector512.Sum(a3);
    }

    /// <summary>acc + Σ of 32 weights (16 packed bytes looked up in the scaled table) times the split activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Accumulate(Vector512<float> table, byte* packedBytes, Vector512<float> xEven, Vector512<float> xOdd, Vector512<float> acc)
    {
        Vector512<int> packed = Avx512F.ConvertToVector512Int32(Vector128.Load(packedBytes));
        acc = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(packed, 4)), xEven, acc);
        return Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, packed), xOdd, acc);
    }

    /// <summary>Row <paramref name="row"/> as float32 in natural order (the reference values, vectorised).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DequantizeRow(in Nf4Tensor w, int row, float* destination)
    {
        int cols = w.Cols, blockSize = w.BlockSize;
        long firstBlock = (long)row * cols / blockSize;
        byte* codes = w.Codes + (long)row * cols / 2;
        if (!Avx512F.IsSupported)
        {
            Int4Dequantizer.Nf4Rows(w, row, 1, new Span<float>(destination, cols));
            return;
        }
        Vector512<float> book = Vector512.Load(w.CodeBook);
        // Interleave (even, odd) back into element order: lanes 0..15 take e0 o0 e1 o1 …, lanes 16..31 the rest.
        Vector512<int> lowIndex = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        Vector512<int> highIndex = lowIndex + Vector512.Create(8);
        var scales = new BlockScales(w, firstBlock);
        for (int b = 0; b < cols / blockSize; b++)
        {
            Vector512<float> table = book * Vector512.Create(scales.Next());
            int c0 = b * blockSize;
            for (int c = c0; c < c0 + blockSize; c += Half)
            {
                Vector512<int> packed = Avx512F.ConvertToVector512Int32(Vector128.Load(codes + c / 2));
                Vector512<float> even = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(packed, 4));
                Vector512<float> odd = Avx512F.PermuteVar16x32(table, packed);
                Avx512F.PermuteVar16x32x2(even, lowIndex, odd).Store(destination + c);
                Avx512F.PermuteVar16x32x2(even, highIndex, odd).Store(destination + c + 16);
            }
        }
    }

    /// <summary>
    /// The scales of consecutive blocks from a starting block: the same float32 values as
    /// <see cref="Nf4Tensor.BlockScale"/>, with the nested block index advanced by counting rather than by a 64-bit
    /// division per block (which, per 64 weights, cost more than the weights' arithmetic).
    /// </summary>
    private struct BlockScales
    {
        private readonly Nf4Tensor _w;
        private long _block;
        private long _nested;
        private int _inNested;

        public BlockScales(in Nf4Tensor w, long firstBlock)
        {
            _w = w;
            _block = firstBlock;
            if (w.IsNested)
            {
                _nested = firstBlock / w.NestedBlockSize;
                _inNested = (int)(firstBlock - _nested * w.NestedBlockSize);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Next()
        {
            long block = _block++;
            if (!_w.IsNested) return _w.Absmax[block];
            float scaled = _w.NestedCode[_w.AbsmaxCodes[block]] * _w.NestedAbsmax[_nested];
            if (++_inNested == _w.NestedBlockSize)
            {
                _inNested = 0;
                _nested++;
            }
            return scaled + _w.NestedOffset;
        }
    }

    /// <summary>Where column <paramref name="c"/> sits in the <see cref="PairSplit"/> layout (cols a multiple of 32).</summary>
    private static int SplitIndex(int c) => c / Half * Half + (c % 2 == 0 ? c % Half / 2 : Half / 2 + c % Half / 2);

    private readonly struct MatVecJob(Nf4Tensor w, float* xSplit, float* y, float* bias) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            int r = start;
            if (Avx512F.IsSupported)
            {
                // Four streams a quarter of the range apart (as the Q4_0 kernel does, for the hardware prefetcher).
                int quarter = (end - start) / 4;
                float* four = stackalloc float[4];
                for (int j = 0; j < quarter; j++)
                {
                    Dot4Rows(w, start + j, quarter, xSplit, four);
                    for (int k = 0; k < 4; k++) y[start + k * quarter + j] = four[k];
                }
                r = start + 4 * quarter;
            }
            for (; r < end; r++) y[r] = DotRow(w, r, xSplit);
            if (bias != null)
                for (r = start; r < end; r++) y[r] += bias[r];
        }
    }

    private readonly struct MultiTokenJob(Nf4Tensor w, float* x, int tokens, float* y, float* bias) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            int cols = w.Cols;
            float* rows = (float*)NativeMemory.AlignedAlloc((nuint)(2 * (long)cols * sizeof(float)), 64);
            try
            {
                var f32 = RowKernels.For(TensorType.F32);
                for (int r = start; r < end; r += 2)
                {
                    int count = Math.Min(2, end - r);
                    for (int k = 0; k < count; k++) DequantizeRow(w, r + k, rows + (long)k * cols);
                    FloatTile.Multiply(f32, rows, count, cols, x, tokens, y + r, w.Rows);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(rows);
            }
            if (bias != null)
                for (int t = 0; t < tokens; t++)
                    for (int r = start; r < end; r++) y[(long)t * w.Rows + r] += bias[r];
        }
    }
}
