namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Linear layers on the CPU: y = W·x (+ b) for one token and Y = X·Wᵀ (+ b) for many, with W in its stored dtype
/// ([out, in], see <see cref="WeightMatrix"/>) and float32 activations. Work is split across the pool by output rows.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>Activation bytes one token block may occupy: small enough to stay in L2 while the weights stream past.</summary>
    private const int TokenBlockBytes = 512 * 1024;
    private const int MaxTokenBlock = 64;

    /// <summary>y[r] = Σ_c W[r, c]·x[c] (+ bias[r]) for every output row r.</summary>
    public static void MatVec(WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default,
        CpuThreadPool? pool = null)
    {
        Check(w, x, 1, y, bias);
        fixed (float* xp = x, yp = y, bp = bias)
        {
            var job = new MatVecJob(w, xp, yp, bias.IsEmpty ? null : bp);
            if (pool is null) job.Execute(0, w.Rows);
            else pool.For(w.Rows, job, grain: 4);
        }
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
        fixed (float* xp = x, yp = y, bp = bias)
            new MatVecJob(w, xp, yp, bias.IsEmpty ? null : bp).Execute(firstRow, firstRow + rowCount);
    }

    /// <summary>
    /// Y[t, r] = Σ_c W[r, c]·X[t, c] (+ bias[r]) for <paramref name="tokens"/> rows of X ([tokens, cols], row-major)
    /// into Y ([tokens, rows], row-major). Tokens are taken in blocks so each weight row is read from memory once per
    /// block rather than once per token.
    /// </summary>
    public static void Multiply(WeightMatrix w, ReadOnlySpan<float> x, int tokens, Span<float> y,
        ReadOnlySpan<float> bias = default, CpuThreadPool? pool = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (tokens == 1)
        {
            MatVec(w, x[..w.Cols], y[..w.Rows], bias, pool);
            return;
        }
        Check(w, x, tokens, y, bias);
        if (tokens == 0) return;
        fixed (float* xp = x, yp = y, bp = bias)
        {
            int block = Math.Clamp(TokenBlockBytes / Math.Max(1, w.Cols * sizeof(float)) / 4 * 4, 4, MaxTokenBlock);
            var job = new MatMulJob(w, xp, tokens, block, yp, bias.IsEmpty ? null : bp);
            if (pool is null) job.Execute(0, w.Rows);
            else pool.For(w.Rows, job, grain: 2);
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

    private readonly struct MatVecJob(WeightMatrix w, float* x, float* y, float* bias) : IRangeJob
    {
        private readonly RowKernels _kernels = RowKernels.For(w.Type);
        private readonly byte* _data = w.Data;
        private readonly long _stride = w.RowStrideBytes;
        private readonly int _cols = w.Cols;

        public void Execute(int start, int end)
        {
            int r = start;
            if (_kernels.Dot4Rows != null)
                for (; r + 4 <= end; r += 4)
                    _kernels.Dot4Rows(_data + r * _stride, _stride, x, _cols, y + r);
            for (; r < end; r++)
                y[r] = _kernels.Dot(_data + r * _stride, x, _cols);
            if (bias != null)
                for (r = start; r < end; r++) y[r] += bias[r];
        }
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
}
