using System.Diagnostics;
using System.Numerics.Tensors;

namespace MiniCPM.Engine.Benchmarking;

/// <summary>
/// Tokens-per-second measurement in the llama-bench style: prefill = one pass over a fixed prompt; decode = greedy
/// continuation, one token per step, each step feeding the previous pick. The sequence starts empty every run.
/// </summary>
public static class ThroughputBenchmark
{
    /// <summary>
    /// A fixed prompt of <paramref name="count"/> ids in [0, <paramref name="vocabulary"/>): the same on every machine
    /// and for every subject (a SplitMix64 stream, so no library's random generator is involved).
    /// </summary>
    public static int[] DeterministicPrompt(int count, int vocabulary, ulong seed = 20261126)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabulary, 1);
        var ids = new int[count];
        ulong state = seed;
        for (int i = 0; i < count; i++)
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            ids[i] = (int)(z % (ulong)vocabulary);
        }
        return ids;
    }

    /// <summary>Times one prefill of <paramref name="prompt"/> and <paramref name="decodeSteps"/> greedy decode steps.</summary>
    public static ThroughputRun Measure(IThroughputSubject subject, ReadOnlySpan<int> prompt, int decodeSteps)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (prompt.IsEmpty) throw new ArgumentException("the prompt is empty", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(decodeSteps);
        var tokens = new int[decodeSteps + 1];

        subject.Begin();
        try
        {
            long start = Stopwatch.GetTimestamp();
            tokens[0] = TensorPrimitives.IndexOfMax(subject.Prefill(prompt));
            long prefilled = Stopwatch.GetTimestamp();
            for (int step = 0; step < decodeSteps; step++)
                tokens[step + 1] = TensorPrimitives.IndexOfMax(subject.Decode(tokens[step]));
            long decoded = Stopwatch.GetTimestamp();

            return new ThroughputRun(prompt.Length, decodeSteps,
                Stopwatch.GetElapsedTime(start, prefilled).TotalSeconds,
                Stopwatch.GetElapsedTime(prefilled, decoded).TotalSeconds,
                tokens);
        }
        finally
        {
            subject.End();
        }
    }

    /// <summary>The median (mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
