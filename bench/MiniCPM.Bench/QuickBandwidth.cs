using System.Diagnostics;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `bandwidth` mode: a Stopwatch-timed table (medians) of the probe and of every matvec case, for quick iteration
/// while optimising. BenchmarkDotNet's MatVecBenchmarks is the record.
/// </summary>
internal static class QuickBandwidth
{
    public static void Run(string[] args)
    {
        int repeats = args.Length > 1 ? int.Parse(args[1]) : 15;
        var probeGbs = new Dictionary<int, double>();
        using (var probe = new BandwidthProbe())
            foreach (int threads in new[] { 1, 2 })
            {
                using var pool = new CpuThreadPool(threads);
                double seconds = Median(repeats, () => probe.Run(pool));
                probeGbs[threads] = probe.Bytes / seconds / 1e9;
                Console.WriteLine($"probe  threads={threads}  {seconds * 1e3,8:F2} ms  {probeGbs[threads],6:F1} GB/s");
            }

        Console.WriteLine("| weights | shape [out×in] | threads | time (ms) | GB/s | % of probe |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (string shape in Shapes.All)
            foreach (var type in new[] { TensorType.F32, TensorType.F16, TensorType.BF16 })
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
                    double seconds = Median(repeats, () => MatMul.MatVec(weights.Matrix, x, y, default, pool));
                    double gbs = weights.Matrix.TotalBytes / seconds / 1e9;
                    Console.WriteLine($"| {type} | {shape} | {threads} | {seconds * 1e3:F3} | {gbs:F1} | {100 * gbs / probeGbs[threads]:F0}% |");
                }
            }
    }

    private static double Median(int repeats, Action action)
    {
        // Warm up (JIT tiering, page faults): at least 20 calls and 300 ms.
        long warmUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3 / 10;
        for (int i = 0; i < 20 || Stopwatch.GetTimestamp() < warmUntil; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }
}
