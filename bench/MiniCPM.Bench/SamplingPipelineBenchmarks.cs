using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Bench;

/// <summary>
/// The host's share of one sampled decode step with MiniCPM's chat settings (temperature 0.7, top-k 100, top-p 0.8,
/// repetition penalty 1.05, 200 ids generated so far) at MiniCPM-V 2.6's vocabulary (151,666 rows of random logits):
/// the whole row through <see cref="LogitsPipeline.Choose"/> (what a GPU step without candidates costs the host after
/// copying the row back) against the row's top-k candidates through <see cref="LogitsPipeline.ChooseFromCandidates"/>
/// (the candidates selected once in setup, as the device would hand them over). Single-threaded.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class SamplingPipelineBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // In-process: no generated project to build (that build times out on a loaded 2-core box).
        public Config() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10)
            .WithToolchain(InProcessEmitToolchain.Instance));
    }

    private const int Vocabulary = 151_666;
    private readonly GenerationOptions _options = new() { Seed = 1 };
    private float[] _logits = [];
    private float[] _work = [];
    private int[] _generated = [];
    private LogitCandidates? _candidates;
    private LogitsPipeline _pipeline = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _logits = new float[Vocabulary];
        for (int i = 0; i < Vocabulary; i++) _logits[i] = (float)(random.NextDouble() * 20 - 10);
        _work = new float[Vocabulary];
        _generated = Enumerable.Range(0, 200).Select(_ => random.Next(Vocabulary)).ToArray();
        _pipeline = new LogitsPipeline(_options, null);
        _candidates = Select(_logits, _options.TopK, _generated.ToHashSet());
    }

    [Benchmark(Baseline = true)]
    public int WholeRow()
    {
        _logits.CopyTo(_work, 0);
        return _pipeline.Choose(_work, _generated);
    }

    [Benchmark]
    public int? Candidates() => _pipeline.ChooseFromCandidates(_candidates!);

    /// <summary>The device's selection written plainly: every unpenalized id at or above the K-th logit less 64 float
    /// steps, and the penalized ids' raw logits, in ascending id order.</summary>
    private static LogitCandidates Select(float[] logits, int k, HashSet<int> penalized)
    {
        var eligible = Enumerable.Range(0, logits.Length).Where(id => !penalized.Contains(id)).ToArray();
        uint kth = eligible.Select(id => LogitCandidatesKernel.Key(logits[id])).OrderDescending().ElementAt(k - 1);
        uint low = kth - 64; // random logits in [−10, 10): far above −∞'s key
        var ids = eligible.Where(id => LogitCandidatesKernel.Key(logits[id]) >= low).ToArray();
        var penalizedIds = penalized.Order().ToArray();
        return new LogitCandidates(ids, ids.Select(id => logits[id]).ToArray(), penalizedIds,
            penalizedIds.Select(id => logits[id]).ToArray(), LogitCandidatesKernel.Value(low), Complete: true);
    }
}
