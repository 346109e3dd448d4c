using System.Diagnostics;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `bandwidth [rounds] [filter]` mode: a Stopwatch-timed table of the probe and of every matvec case whose name
/// ("F16 3584x18944") contains the filter, for quick iteration while optimising; BenchmarkDotNet's MatVecBenchmarks is
/// the formal record. The machine is shared, so the cases take turns: each round times every case (5 calls, the
/// fastest kept), and the table gives the median and the best round of each, with "% of probe" taken against the
/// probe's median and best of the same run. A third column, GB per CPU-second of the process (all threads, medians
/// over rounds), is the throughput per busy core, which other jobs disturb less than wall time.
/// Every block-quantized type runs twice: "Q4_0" with float32 activations and "Q4_0/i8" with int8 activations
/// (<see cref="ActivationPrecision.Int8"/>, the quantization of x included in the time).
/// </summary>
internal static class QuickBandwidth
{
    private const int CallsPerRound = 5;

    public static void Run(string[] args)
    {
        int rounds = args.Length > 1 ? int.Parse(args[1]) : 9;
        string filter = args.Length > 2 ? args[2] : "";
        Console.WriteLine($"{DateTime.UtcNow:u}, load average before: {LoadAverage()}");

        // A filter naming one exact case ("F16 64x4096") runs that case even if it is not one of the standard shapes:
        // a matrix that fits in L2 measures a kernel's compute speed alone.
        var selected = (from shape in Shapes.All
                        from type in AllTypes
                        from precision in type.IsQuantized() ? [ActivationPrecision.Float32, ActivationPrecision.Int8] : new[] { ActivationPrecision.Float32 }
                        where type.RowBytes(Shapes.Parse(shape).Cols) != null // K-quant rows are 256-blocks: not 4864x896
                        where CaseName(type, precision, shape).Contains(filter, StringComparison.OrdinalIgnoreCase)
                        select (type, precision, shape)).ToList();
        string[] parts = filter.Split(' ');
        if (selected.Count == 0 && parts.Length == 2 && Enum.TryParse(parts[0].Split('/')[0], out TensorType custom))
            selected.Add((custom, parts[0].EndsWith("/i8") ? ActivationPrecision.Int8 : ActivationPrecision.Float32, parts[1]));

        using var probe = new BandwidthProbe();
        var weights = selected.Select(c => new NativeWeights(c.type, Shapes.Parse(c.shape).Rows, Shapes.Parse(c.shape).Cols)).ToList();
        try
        {
            Console.WriteLine("| threads | case [out×in] | GB/s median | % of probe | GB/s best | % of probe | GB/CPU-s |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (int threads in new[] { 1, 2 })
            {
                using var pool = new CpuThreadPool(threads);
                var cases = new List<(string Name, long Bytes, Action Call)> { ("probe (512 MiB)", probe.Bytes, () => probe.Run(pool)) };
                for (int i = 0; i < selected.Count; i++)
                {
                    var w = weights[i].Matrix;
                    float[] x = new float[w.Cols], y = new float[w.Rows];
                    var random = new Random(2);
                    for (int c = 0; c < x.Length; c++) x[c] = (float)NativeWeights.Gaussian(random);
                    var precision = selected[i].precision;
                    cases.Add((CaseName(selected[i].type, precision, selected[i].shape), w.TotalBytes, () => MatMul.MatVec(w, x, y, default, pool, precision)));
                }

                foreach (var c in cases) WarmUp(c.Call);
                var gbs = cases.Select(_ => new List<double>()).ToList();
                var cpuGbs = cases.Select(_ => new List<double>()).ToList();
                for (int round = 0; round < rounds; round++)
                    for (int i = 0; i < cases.Count; i++)
                    {
                        var (seconds, cpuSeconds) = Measure(cases[i].Call);
                        gbs[i].Add(cases[i].Bytes / seconds / 1e9);
                        cpuGbs[i].Add(cases[i].Bytes / cpuSeconds / 1e9);
                    }

                double probeMedian = Median(gbs[0]), probeBest = gbs[0].Max();
                for (int i = 0; i < cases.Count; i++)
                {
                    double median = Median(gbs[i]), best = gbs[i].Max();
                    Console.WriteLine($"| {threads} | {cases[i].Name} | {median:F1} | {100 * median / probeMedian:F0}% | " +
                                      $"{best:F1} | {100 * best / probeBest:F0}% | {Median(cpuGbs[i]):F1} |");
                }
            }
        }
        finally
        {
            foreach (var w in weights) w.Dispose();
        }
        Console.WriteLine($"{DateTime.UtcNow:u}, load average after: {LoadAverage()}");
    }

    private static readonly TensorType[] AllTypes =
    [
        TensorType.F32, TensorType.F16, TensorType.BF16, TensorType.Q8_0, TensorType.Q4_0, TensorType.Q4_1, TensorType.Q5_0,
        TensorType.Q5_1, TensorType.Q2_K, TensorType.Q3_K, TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K,
    ];

    private static string CaseName(TensorType type, ActivationPrecision precision, string shape) =>
        precision == ActivationPrecision.Int8 ? $"{type}/i8 {shape}" : $"{type} {shape}";

    private static void WarmUp(Action action)
    {
        // JIT tiering and page faults: at least 20 calls and 300 ms.
        long warmUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3 / 10;
        for (int i = 0; i < 20 || Stopwatch.GetTimestamp() < warmUntil; i++) action();
    }

    /// <returns>The fastest of <see cref="CallsPerRound"/> calls, and the process CPU time per call over them.</returns>
    private static (double Seconds, double CpuSeconds) Measure(Action action)
    {
        double fastest = double.MaxValue;
        double cpuStart = ProcessCpuTime.Seconds();
        for (int i = 0; i < CallsPerRound; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            fastest = Math.Min(fastest, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return (fastest, (ProcessCpuTime.Seconds() - cpuStart) / CallsPerRound);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
