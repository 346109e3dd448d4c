using System.Diagnostics;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `bandwidth [repeats] [filter]` mode: a Stopwatch-timed table (medians) of the probe and of every matvec case whose
/// name ("F16 3584x18944") contains the filter, for quick iteration while optimising. BenchmarkDotNet's
/// MatVecBenchmarks is the record. Next to wall-clock GB/s it prints GB per CPU-second of the process (all threads):
/// the throughput per busy core, which other jobs on the machine disturb much less than wall time.
/// </summary>
internal static class QuickBandwidth
{
    public static void Run(string[] args)
    {
        int repeats = args.Length > 1 ? int.Parse(args[1]) : 15;
        string filter = args.Length > 2 ? args[2] : "";
        Console.WriteLine($"load average before: {LoadAverage()}");
        var probeGbs = new Dictionary<int, double>();
        using (var probe = new BandwidthProbe())
            foreach (int threads in new[] { 1, 2 })
            {
                using var pool = new CpuThreadPool(threads);
                var (seconds, cpuSeconds) = Measure(repeats, () => probe.Run(pool));
                probeGbs[threads] = probe.Bytes / seconds / 1e9;
                Console.WriteLine($"probe  threads={threads}  {seconds * 1e3,8:F2} ms  {probeGbs[threads],6:F1} GB/s  " +
                                  $"{probe.Bytes / cpuSeconds / 1e9,6:F1} GB/CPU-s");
            }

        // A filter naming one exact case ("F16 64x4096") runs that case even if it is not one of the standard shapes:
        // a matrix that fits in L2 measures a kernel's compute speed alone.
        var cases = (from shape in Shapes.All
                     from type in new[] { TensorType.F32, TensorType.F16, TensorType.BF16 }
                     where $"{type} {shape}".Contains(filter, StringComparison.OrdinalIgnoreCase)
                     select (type, shape)).ToList();
        string[] parts = filter.Split(' ');
        if (cases.Count == 0 && parts.Length == 2 && Enum.TryParse(parts[0], out TensorType custom))
            cases.Add((custom, parts[1]));

        Console.WriteLine("| weights | shape [out×in] | threads | time (ms) | GB/s | % of probe | GB/CPU-s |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (type, shape) in cases)
            {
                var (rows, cols) = Shapes.Parse(shape);
                using var weights = new NativeWeights(type, rows, cols);
                float[] x = new float[cols];
                float[] y = new float[rows];
                var random = new Random(2);
                for (int i = 0; i < cols; i++) x[i] = (float)NativeWeights.Gaussian(random);
                foreach (int threads in new[] { 1, 2 })
                {
                    using var pool = new CpuThreadPool(threads);
                    var (seconds, cpuSeconds) = Measure(repeats, () => MatMul.MatVec(weights.Matrix, x, y, default, pool));
                    long bytes = weights.Matrix.TotalBytes;
                    double gbs = bytes / seconds / 1e9;
                    Console.WriteLine($"| {type} | {shape} | {threads} | {seconds * 1e3:F3} | {gbs:F1} | " +
                                      $"{100 * gbs / probeGbs[threads]:F0}% | {bytes / cpuSeconds / 1e9:F1} |");
                }
            }
        Console.WriteLine($"load average after: {LoadAverage()}");
    }

    /// <returns>The median wall time of one call, and the process CPU time per call over all timed calls.</returns>
    private static (double Seconds, double CpuSeconds) Measure(int repeats, Action action)
    {
        // Warm up (JIT tiering, page faults): at least 20 calls and 300 ms.
        long warmUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3 / 10;
        for (int i = 0; i < 20 || Stopwatch.GetTimestamp() < warmUntil; i++) action();
        var times = new double[repeats];
        double cpuStart = ProcessCpuTime.Seconds();
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        double cpuPerCall = (ProcessCpuTime.Seconds() - cpuStart) / repeats;
        Array.Sort(times);
        return (times[repeats / 2], cpuPerCall);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
