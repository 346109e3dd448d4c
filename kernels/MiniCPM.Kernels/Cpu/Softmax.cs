using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Softmax along a row, max-subtracted so exp never overflows: y_i = exp(x_i − max) / Σ_j exp(x_j − max).
/// A length limit treats everything past it as masked out (probability 0) — how attention applies a causal mask
/// without writing −∞ into the scores.
/// </summary>
public static unsafe class Softmax
{
    /// <summary>In place over <paramref name="row"/>[..<paramref name="length"/>]; the rest of the row is set to 0.</summary>
    public static void Apply(Span<float> row, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, row.Length);
        row[length..].Clear();
        if (length == 0) return;
        Span<float> live = row[..length];
        float max = TensorPrimitives.Max(live);
        TensorPrimitives.Subtract(live, max, live);
        TensorPrimitives.Exp(live, live);
        float sum = TensorPrimitives.Sum(live);
        TensorPrimitives.Divide(live, sum, live);
    }

    /// <summary>In place over the whole row.</summary>
    public static void Apply(Span<float> row) => Apply(row, row.Length);

    /// <summary>
    /// In place over <paramref name="rows"/> rows of <paramref name="cols"/> scores. Row i keeps the first
    /// min(cols, <paramref name="firstRowLength"/> + i) entries: for queries that are the last rows of a causal
    /// sequence over cols keys, pass cols − rows + 1. Pass cols (or more) for no mask.
    /// </summary>
    public static void ApplyRows(Span<float> scores, int rows, int cols, int firstRowLength, CpuThreadPool? pool = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRowLength);
        if (scores.Length < (long)rows * cols) throw new ArgumentException($"{rows}×{cols} scores do not fit", nameof(scores));
        fixed (float* p = scores)
            RowJobs.Run(rows, new Job(p, cols, firstRowLength), pool);
    }

    private readonly struct Job(float* scores, int cols, int firstRowLength) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
                Apply(new Span<float>(scores + (long)r * cols, cols), (int)Math.Min(cols, (long)firstRowLength + r));
        }
    }
}
