using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// Decode-sized matrix-vector calls split over 2 threads by <see cref="CpuThreadPool"/> versus
/// <see cref="Parallel.For(int,int,ParallelOptions,Action{int})"/> (one range per thread, same row kernel), plus the
/// single-thread time as the floor the split must beat. Shapes are [out, in].
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class ThreadingBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(7)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)));
    }

    [Params("F32 896x896", "F16 896x4864", "F16 4864x896")]
    public string Case { get; set; } = "F16 896x4864";

    private NativeWeights? _weights;
    private CpuThreadPool? _pool;
    private float[] _x = [];
    private float[] _y = [];
    private readonly ParallelOptions _twoThreads = new() { MaxDegreeOfParallelism = 2 };

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Case.Split(' ');
        var (rows, cols) = Shapes.Parse(parts[1]);
        _weights = new NativeWeights(Enum.Parse<TensorType>(parts[0]), rows, cols);
        _x = new float[cols];
        var random = new Random(3);
        for (int i = 0; i < cols; i++) _x[i] = (float)NativeWeights.Gaussian(random);
        _y = new float[rows];
        _pool = new CpuThreadPool(2);
    }

    [Benchmark(Baseline = true)]
    public void OneThread() => MatMul.MatVec(_weights!.Matrix, _x, _y);

    [Benchmark]
    public void CpuThreadPool2() => MatMul.MatVec(_weights!.Matrix, _x, _y, default, _pool);

    [Benchmark]
    public void ParallelFor2()
    {
        int rows = _weights!.Matrix.Rows;
        int half = (rows / 2 + 3) / 4 * 4;
        Parallel.For(0, 2, _twoThreads, part =>
        {
            int first = part == 0 ? 0 : half;
            int count = part == 0 ? half : rows - half;
            MatMul.MatVecRows(_weights.Matrix, _x, _y, default, first, count);
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _weights?.Dispose();
    }
}
