namespace MiniCPM.Kernels.Cpu;

/// <summary>One product of <see cref="MatMul.MatVecShared"/>: y = W·x (+ bias), written to <see cref="Output"/>[0, rows).</summary>
public readonly struct MatVecTarget(WeightMatrix matrix, Memory<float> output, ReadOnlyMemory<float> bias = default)
{
    public WeightMatrix Matrix { get; } = matrix;
    public Memory<float> Output { get; } = output;
    public ReadOnlyMemory<float> Bias { get; } = bias;
}

public static unsafe partial class MatMul
{
    /// <summary>Most products one <see cref="MatVecShared"/> call fuses (q|k|v is the largest group a decoder has).</summary>
    public const int MaxSharedTargets = 4;

    /// <summary>
    /// Several matrix-vector products that read the same x — a decoder's q, k and v, or its MLP gate and up — as one
    /// piece of work: with <see cref="ActivationPrecision.Int8"/> x is quantized once (not once per matrix) and the
    /// pool is dispatched once over the rows of all matrices together (one barrier instead of one per matrix; a decode
    /// step makes hundreds of these small calls). Each output equals what <see cref="MatVec"/> gives for its matrix
    /// (the same kernels on the same quantized x). Products that cannot share (float activations, a dtype without int8
    /// kernels, or int8 block sizes that differ) run one <see cref="MatVec"/> each.
    /// </summary>
    public static void MatVecShared(ReadOnlySpan<float> x, ReadOnlySpan<MatVecTarget> targets, CpuThreadPool? pool = null,
        ActivationPrecision activations = ActivationPrecision.Float32)
    {
        if (targets.Length > MaxSharedTargets)
            throw new ArgumentException($"{targets.Length} products; at most {MaxSharedTargets} share one call", nameof(targets));
        foreach (var t in targets)
        {
            Check(t.Matrix, x, 1, t.Output.Span, t.Bias.Span);
            if (t.Matrix.Cols != targets[0].Matrix.Cols)
                throw new ArgumentException($"the products read different input widths ({targets[0].Matrix.Cols} and {t.Matrix.Cols})", nameof(targets));
        }
        if (targets.IsEmpty) return;
        if (!CanShareInt8(targets, activations))
        {
            foreach (var t in targets) MatVec(t.Matrix, x, t.Output.Span[..t.Matrix.Rows], t.Bias.Span, pool, activations);
            return;
        }

        var kernels = Int8RowKernels.For(targets[0].Matrix.Type);
        Segment* segments = stackalloc Segment[MaxSharedTargets];
        fixed (float* xp = x)
        {
            var quantized = Int8Activations.Quantize(xp, 1, targets[0].Matrix.Cols, kernels.KBlocks);
            RunPinned(targets, 0, segments, quantized.Token(0), 0, pool);
        }
    }

    private static bool CanShareInt8(ReadOnlySpan<MatVecTarget> targets, ActivationPrecision activations)
    {
        if (activations != ActivationPrecision.Int8) return false;
        bool? kBlocks = null;
        foreach (var t in targets)
        {
            if (!Int8RowKernels.Supports(t.Matrix.Type)) return false;
            bool k = Int8RowKernels.For(t.Matrix.Type).KBlocks;
            if (kBlocks is { } first && first != k) return false;
            kBlocks = k;
        }
        return true;
    }

    /// <summary>Pins target <paramref name="index"/>'s output and bias, then the next ones; the last level runs the job.</summary>
    private static void RunPinned(ReadOnlySpan<MatVecTarget> targets, int index, Segment* segments, Int8Vector* x, int firstRow, CpuThreadPool? pool)
    {
        if (index == targets.Length)
        {
            var job = new SharedInt8MatVecJob(segments, targets.Length, x);
            if (pool is null) job.Execute(0, firstRow);
            else pool.For(firstRow, job, grain: 4);
            return;
        }
        var t = targets[index];
        fixed (float* y = t.Output.Span, bias = t.Bias.Span)
        {
            var w = t.Matrix;
            segments[index] = new Segment(Int8RowKernels.For(w.Type), w.Data, w.RowStrideBytes, w.Cols, firstRow, w.Rows, y,
                t.Bias.IsEmpty ? null : bias);
            RunPinned(targets, index + 1, segments, x, firstRow + w.Rows, pool);
        }
    }

    /// <summary>One matrix of a shared call: its rows are [FirstRow, FirstRow + Rows) of the call's row range.</summary>
    private readonly struct Segment(Int8RowKernels kernels, byte* data, long stride, int cols, int firstRow, int rows, float* y, float* bias)
    {
        public readonly Int8RowKernels Kernels = kernels;
        public readonly byte* Data = data;
        public readonly long Stride = stride;
        public readonly int Cols = cols;
        public readonly int FirstRow = firstRow;
        public readonly int Rows = rows;
        public readonly float* Y = y;
        public readonly float* Bias = bias;
    }

    /// <summary>A range of the concatenated rows, cut at the matrices' boundaries, each piece run as <see cref="Int8MatVecJob"/> runs it.</summary>
    private readonly struct SharedInt8MatVecJob(Segment* segments, int count, Int8Vector* x) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int i = 0; i < count; i++)
            {
                ref readonly Segment s = ref segments[i];
                int from = Math.Max(start, s.FirstRow) - s.FirstRow, to = Math.Min(end, s.FirstRow + s.Rows) - s.FirstRow;
                if (from < to) QuarterStreams.Run(new Int8RowDots(s.Kernels, s.Data, s.Stride, s.Cols, x), s.Y, s.Bias, from, to);
            }
        }
    }
}
