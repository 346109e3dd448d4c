using MiniCPM.Kernels.Formats;
using System.Buffers;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Linear layers on the CPU: y = W·x (+ b) for one token and Y = X·Wᵀ (+ b) for many, with W in its stored dtype
/// ([out, in], see <see cref="WeightMatrix"/>) and float32 activations. Work is split across the pool by output rows.
/// Block-quantized weights take float32 activations as they are, or — with <see cref="ActivationPrecision.Int8"/> —
/// quantize them once per call to int8 blocks (llama.cpp's scheme) and run integer kernels.
/// </summary>
public static unsafe partial class MatMul
{
    /// <summary>Activation bytes one token block may occupy: small enough to stay in L2 while the weights stream past.</summary>
    private const int TokenBlockBytes = 512 * 1024;
    private const int MaxTokenBlock = 64;

    /// <summary>Whether matrix products with <paramref name="type"/> weights run on the CPU backend.</summary>
    public static bool Supports(TensorType type) => RowKernels.Supports(type);

    /// <summary>y[r] = Σ_c W[r, c]·x[c] (+ bias[r]) for every output row r.</summary>
    public static void MatVec(WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default,
        CpuThreadPool? pool = null, ActivationPrecision activations = ActivationPrecision.Float32)
    {
        Check(w, x, 1, y, bias);
        if (activations == ActivationPrecision.Int8 && Int8RowKernels.Supports(w.Type))
            RunInt8(w, x, 1, y, bias, pool);
        else
            RunMatVec(w, x, y, bias, pool, 0, w.Rows);
    }

    /// <summary>
    /// The rows [<paramref name="firstRow"/>, firstRow + rowCount) of <see cref="MatVec"/> on the calling thread,
    /// written to the same positions of <paramref name="y"/>: the building block for callers that split work themselves.
    /// </summary>
    public static void MatVecRows(WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias,
        int firstRow, int rowCount)
    {
        Check(w, x, 1, y, bias);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)firstRow + rowCount, w.Rows, nameof(rowCount));
        RunMatVec(w, x, y, bias, null, firstRow, rowCount);
    }

    private static void RunMatVec(WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias,
        CpuThreadPool? pool, int firstRow, int rowCount)
    {
        var kernels = RowKernels.For(w.Type);
        // The four-row kernel of a 16-bit dtype reads x with each 32-column block split into even and odd columns:
        // one copy per call, read by every row.
        float[]? split = kernels.Dot4Rows != null && kernels.Dot4RowsSplitsPairs && w.Cols >= PairSplit.Block
            ? ArrayPool<float>.Shared.Rent(w.Cols)
            : null;
        try
        {
            fixed (float* xp = x, yp = y, bp = bias, sp = split)
            {
                float* x4 = xp;
                if (split != null)
                {
                    PairSplit.Copy(xp, sp, w.Cols);
                    x4 = sp;
                }
                var job = new MatVecJob(w, kernels, xp, x4, yp, bias.IsEmpty ? null : bp);
                if (pool is null) job.Execute(firstRow, firstRow + rowCount);
                else pool.For(rowCount, job, grain: 4); // MatVec only: firstRow is 0
            }
        }
        finally
        {
            if (split != null) ArrayPool<float>.Shared.Return(split);
        }
    }

    /// <summary>
    /// Y[t, r] = Σ_c W[r, c]·X[t, c] (+ bias[r]) for <paramref name="tokens"/> rows of X ([tokens, cols], row-major)
    /// into Y ([tokens, rows], row-major). Tokens are taken in blocks so each weight row is read from memory once per
    /// block rather than once per token.
    /// </summary>
    public static void Multiply(WeightMatrix w, ReadOnlySpan<float> x, int tokens, Span<float> y,
        ReadOnlySpan<float> bias = default, CpuThreadPool? pool = null, ActivationPrecision activations = ActivationPrecision.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (tokens == 1)
        {
            MatVec(w, x[..w.Cols], y[..w.Rows], bias, pool, activations);
            return;
        }
        Check(w, x, tokens, y, bias);
        if (tokens == 0) return;
        if (activations == ActivationPrecision.Int8 && Int8RowKernels.Supports(w.Type))
        {
            RunInt8(w, x, tokens, y, bias, pool);
            return;
        }
        fixed (float* xp = x, yp = y, bp = bias)
        {
            if (tokens >= FloatGemm.MinTokens && FloatGemm.Supports(w.Type))
            {
                FloatGemm.Multiply(w, xp, tokens, yp, bias.IsEmpty ? null : bp, pool);
                return;
            }
            int block = Math.Clamp(TokenBlockBytes / Math.Max(1, w.Cols * sizeof(float)) / 4 * 4, 4, MaxTokenBlock);
            var job = new MatMulJob(w, xp, tokens, block, yp, bias.IsEmpty ? null : bp);
            if (pool is null) job.Execute(0, w.Rows);
            else pool.For(w.Rows, job, grain: 2);
        }
    }

    /// <summary>The int8 path: activations quantized once (per token), then integer kernels over the rows.</summary>
    private static void RunInt8(WeightMatrix w, ReadOnlySpan<float> x, int tokens, Span<float> y, ReadOnlySpan<float> bias, CpuThreadPool? pool)
    {
        var kernels = Int8RowKernels.For(w.Type);
        fixed (float* xp = x, yp = y, bp = bias)
        {
            var quantized = Int8Activations.Quantize(xp, tokens, w.Cols, kernels.KBlocks);
            float* biasPointer = bias.IsEmpty ? null : bp;
            if (tokens == 1)
            {
                var job = new Int8MatVecJob(w, kernels, quantized.Token(0), yp, biasPointer);
                if (pool is null) job.Execute(0, w.Rows);
                else pool.For(w.Rows, job, grain: 4);
            }
            else
            {
                // Int8 activations are a quarter of the float bytes: up to 64 tokens stay in L2 for long rows too.
                int block = Math.Clamp(TokenBlockBytes / Math.Max(1, w.Cols) / 4 * 4, 4, MaxTokenBlock);
                var job = new Int8MatMulJob(w, kernels, quantized.Token(0), tokens, block, yp, biasPointer);
                if (pool is null) job.Execute(0, w.Rows);
                else pool.For(w.Rows, job, grain: 2);
            }
        }
    }

    private static void Check(WeightMatrix w, ReadOnlySpan<float> x, int tokens, Span<float> y, ReadOnlySpan<float> bias)
    {
        if (!RowKernels.Supports(w.Type))
            throw new NotSupportedException($"matrix products with {w.Type} weights are not implemented on the CPU backend");
        if (x.Length < (long)tokens * w.Cols)
            throw new ArgumentException($"activations hold {x.Length} values; {tokens}×{w.Cols} are needed", nameof(x));
        if (y.Length < (long)tokens * w.Rows)
            throw new ArgumentException($"output holds {y.Length} values; {tokens}×{w.Rows} are needed", nameof(y));
        if (!bias.IsEmpty && bias.Length != w.Rows)
            throw new ArgumentException($"bias has {bias.Length} values; the matrix has {w.Rows} rows", nameof(bias));
    }

    /// <param name="x">The activations in natural order.</param>
    /// <param name="x4">The activations as the four-row kernel reads them (see <see cref="RowKernels.Dot4RowsSplitsPairs"/>).</param>
    private readonly struct MatVecJob(WeightMatrix w, RowKernels kernels, float* x, float* x4, float* y, float* bias) : IRangeJob
    {
        private readonly FloatRowDots _dots = new(kernels, w.Data, w.RowStrideBytes, w.Cols, x, x4);

        public void Execute(int start, int end) => QuarterStreams.Run(_dots, y, bias, start, end);
    }

    private readonly struct FloatRowDots(RowKernels kernels, byte* data, long stride, int cols, float* x, float* x4) : IRowDots
    {
        public bool HasFourRows => kernels.Dot4Rows != null;
        public void FourRows(int row, int quarter, float* four) => kernels.Dot4Rows(data + row * stride, quarter * stride, x4, cols, four);
        public float OneRow(int row) => kernels.Dot(data + row * stride, x, cols);
    }

    private readonly struct MatMulJob(WeightMatrix w, float* x, int tokens, int tokenBlock, float* y, float* bias) : IRangeJob
    {
        private readonly RowKernels _kernels = RowKernels.For(w.Type);
        private readonly byte* _data = w.Data;
        private readonly long _stride = w.RowStrideBytes;
        private readonly int _cols = w.Cols;
        private readonly int _rows = w.Rows;

        public void Execute(int start, int end)
        {
            for (int t0 = 0; t0 < tokens; t0 += tokenBlock)
            {
                int t1 = Math.Min(tokens, t0 + tokenBlock);
                int r = start;
                if (_kernels.Dot2Rows4Tokens != null)
                    for (; r + 2 <= end; r += 2)
                    {
                        byte* row = _data + r * _stride;
                        int t = t0;
                        for (; t + 4 <= t1; t += 4)
                            _kernels.Dot2Rows4Tokens(row, _stride, x + (long)t * _cols, _cols, _cols, y + (long)t * _rows + r, _rows);
                        for (; t < t1; t++)
                        {
                            y[(long)t * _rows + r] = _kernels.Dot(row, x + (long)t * _cols, _cols);
                            y[(long)t * _rows + r + 1] = _kernels.Dot(row + _stride, x + (long)t * _cols, _cols);
                        }
                    }
                for (; r < end; r++)
                    for (int t = t0; t < t1; t++)
                        y[(long)t * _rows + r] = _kernels.Dot(_data + r * _stride, x + (long)t * _cols, _cols);
            }
            if (bias != null)
                for (int t = 0; t < tokens; t++)
                    for (int r = start; r < end; r++)
                        y[(long)t * _rows + r] += bias[r];
        }
    }
    /// <summary>The int8 matrix-vector product: four quarter-streams of rows as <see cref="MatVecJob"/> reads them.</summary>
    private readonly struct Int8MatVecJob(WeightMatrix w, Int8RowKernels kernels, Int8Vector* x, float* y, float* bias) : IRangeJob
    {
        private readonly Int8RowDots _dots = new(kernels, w.Data, w.RowStrideBytes, w.Cols, x);

        public void Execute(int start, int end) => QuarterStreams.Run(_dots, y, bias, start, end);
    }

    private readonly struct Int8RowDots(Int8RowKernels kernels, byte* data, long stride, int cols, Int8Vector* x) : IRowDots
    {
        public bool HasFourRows => kernels.Dot4Rows != null;
        public void FourRows(int row, int quarter, float* four) => kernels.Dot4Rows(data + row * stride, quarter * stride, x, cols, four);
        public float OneRow(int row) => kernels.Dot(data + row * stride, x, cols);
    }

    /// <summary>The int8 matrix-matrix product: token blocks, two rows × four tokens per kernel call.</summary>
    private readonly struct Int8MatMulJob(WeightMatrix w, Int8RowKernels kernels, Int8Vector* x, int tokens, int tokenBlock, float* y, float* bias) : IRangeJob
    {
        private readonly byte* _data = w.Data;
        private readonly long _stride = w.RowStrideBytes;
        private readonly int _cols = w.Cols;
        private readonly int _rows = w.Rows;

        public void Execute(int start, int end)
        {
            for (int t0 = 0; t0 < tokens; t0 += tokenBlock)
            {
                int t1 = Math.Min(tokens, t0 + tokenBlock);
                int r = start;
                for (; r + 2 <= end; r += 2)
                {
                    byte* row = _data + r * _stride;
                    int t = t0;
                    for (; t + 4 <= t1; t += 4)
                        kernels.Dot2Rows4Tokens(row, _stride, x + t, _cols, y + (long)t * _rows + r, _rows);
                    for (; t < t1; t++)
                    {
                        y[(long)t * _rows + r] = kernels.Dot(row, x + t, _cols);
                        y[(long)t * _rows + r + 1] = kernels.Dot(row + _stride, x + t, _cols);
                    }
                }
                for (; r < end; r++)
                    for (int t = t0; t < t1; t++)
                        y[(long)t * _rows + r] = kernels.Dot(_data + r * _stride, x + t, _cols);
            }
            if (bias != null)
                for (int t = 0; t < tokens; t++)
                    for (int r = start; r < end; r++)
                        y[(long)t * _rows + r] += bias[r];
        }
    }
}
