using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// Matrix-vector throughput against the machine's read bandwidth. Each case is "probe" (a streaming read-only sum,
/// see <see cref="BandwidthProbe"/>) or "{dtype} {rows}x{cols}" with the weight shape as [out, in]. The GB/s column
/// counts weight bytes read per call; "% of probe" divides by the probe's GB/s at the same thread count, both measured
/// in this run.
/// </summary>
[Config(typeof(Config))]
public class MatVecBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // ShortRun-like: one process per case, few iterations, so the whole table takes minutes.
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(7)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)));
            AddColumn(new BandwidthColumn(), new ProbeRatioColumn());
            WithOption(ConfigOptions.DisableLogFile, true);
        }
    }

    public static IEnumerable<string> Cases()
    {
        yield return "probe";
        foreach (string shape in Shapes.All)
            foreach (string type in new[] { "F32", "F16", "BF16" })
                yield return $"{type} {shape}";
    }

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "probe";

    [Params(1, 2)]
    public int Threads { get; set; }

    private CpuThreadPool? _pool;
    private BandwidthProbe? _probe;
    private NativeWeights? _weights;
    private float[] _x = [];
    private float[] _y = [];

    /// <summary>Bytes one call reads: the probe buffer, or the weights.</summary>
    public static long BytesRead(string benchmarkCase)
    {
        if (benchmarkCase == "probe") return BandwidthProbe.DefaultBytes;
        var (type, rows, cols) = ParseCase(benchmarkCase);
        return type.RowBytes(cols)!.Value * rows;
    }

    private static (TensorType Type, int Rows, int Cols) ParseCase(string benchmarkCase)
    {
        string[] parts = benchmarkCase.Split(' ');
        var (rows, cols) = Shapes.Parse(parts[1]);
        return (Enum.Parse<TensorType>(parts[0]), rows, cols);
    }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new CpuThreadPool(Threads);
        if (Case == "probe")
        {
            _probe = new BandwidthProbe();
            return;
        }
        var (type, rows, cols) = ParseCase(Case);
        _weights = new NativeWeights(type, rows, cols);
        var random = new Random(2);
        _x = new float[cols];
        for (int i = 0; i < cols; i++) _x[i] = (float)NativeWeights.Gaussian(random);
        _y = new float[rows];
    }

    [Benchmark]
    public float Run()
    {
        if (_probe is not null) return _probe.Run(_pool!);
        MatMul.MatVec(_weights!.Matrix, _x, _y, default, _pool);
        return _y[0];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _probe?.Dispose();
        _weights?.Dispose();
    }
}
