using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MiniCPM.Engine.Audio;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Bench;

/// <summary>
/// Whisper's log-mel of one 30 s piece (3000 frames of a 400-point STFT, 80 mel filters), on one thread and split over
/// a pool's threads: the CPU's whole share of the audio path when the encoder runs on a GPU.
/// </summary>
[Config(typeof(Config))]
public class LogMelBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // In-process: no generated project to build (that build times out on a loaded 2-core box).
        public Config() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(8)
            .WithToolchain(InProcessEmitToolchain.Instance));
    }

    private readonly WhisperLogMel _logMel = new();
    private float[] _samples = [];
    private CpuThreadPool? _pool;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(3);
        _samples = Enumerable.Range(0, WhisperLogMel.PaddedSamples).Select(_ => (float)(random.NextDouble() * 0.2 - 0.1)).ToArray();
        _pool = Threads > 1 ? new CpuThreadPool(Threads) : null;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool?.Dispose();

    [Benchmark]
    public float[] ThirtySeconds() => _logMel.Compute(_samples, _pool);
}
