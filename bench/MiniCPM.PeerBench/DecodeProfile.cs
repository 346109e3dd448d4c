using System.Diagnostics;
using System.Globalization;
using MiniCPM.Engine;
using MiniCPM.Engine.Benchmarking;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.PeerBench;

/// <summary>
/// Where a decode step's time goes, without instrumenting the model: (1) whole decode steps through the model after a
/// prompt; (2) the same matrix-vector products the step makes — each layer's q/k/v, o_proj, gate/up, down_proj and the
/// lm_head — replayed alone on the same mapped weights with the same thread pool; (3) the cost of one pool dispatch.
/// The step minus the replayed products is attention + norms + RoPE + residual adds + dispatch/sync overhead.
/// Wall time and process CPU time are both given: on a loaded machine CPU time (at 1 thread) is the honest cost.
/// </summary>
internal static unsafe class DecodeProfile
{
    private static readonly string[] Groups = ["q/k/v", "o_proj", "gate/up", "down", "lm_head"];

    /// <summary>The replay quantizes activations as the decoder does by default (int8 blocks for quantized weights).</summary>
    private static readonly ActivationPrecision Activations = new MiniCPM.Engine.Models.Qwen2.Qwen2Options().Activations;

    public static void Run(string path, int threads, int context, int steps, int rounds, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"profile {Path.GetFileName(path)}: {threads} thread(s), decode at context {context}, {rounds} rounds of {steps} steps; load {PeerComparison.Load(ProcessStats.LoadAverage())}"));

        using var bench = BenchModel.Open(path, threads, context + steps + 1);
        var subject = new LanguageModelSubject(bench.Model);
        var prompt = ThroughputBenchmark.DeterministicPrompt(context, bench.Model.Config.VocabSize);
        ThroughputBenchmark.Measure(subject, prompt[..16], 4); // warm-up (JIT, page faults)
        var llm = bench.Model.Config;
        using var checkpoint = Checkpoint.Open(path); // a second mapping of the same file: same pages, no copy
        var matrices = MapMatrices(checkpoint, llm.Layers, llm.TieWordEmbeddings);
        if (Environment.GetEnvironmentVariable("PROFILE_COPY") == "1") matrices = CopyToAnonymousMemory(matrices);
        using var pool = threads > 1 ? new CpuThreadPool(threads) : null;
        var x = new float[Math.Max(llm.HiddenSize, llm.IntermediateSize)];
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i) * 0.5f;
        var y = new float[Math.Max(llm.VocabSize, llm.IntermediateSize)];
        var groupWall = new double[Groups.Length];
        var groupBytes = new long[Groups.Length];
        void Replay(bool record)
        {
            for (int layer = 0; layer < llm.Layers; layer++)
                for (int m = 0; m < 7; m++)
                {
                    var w = matrices[layer * 7 + m];
                    int group = m switch { 0 or 1 or 2 => 0, 3 => 1, 4 or 5 => 2, _ => 3 };
                    long start = Stopwatch.GetTimestamp();
                    MatMul.MatVec(w, x.AsSpan(0, w.Cols), y.AsSpan(0, w.Rows), default, pool, Activations);
                    if (record) { groupWall[group] += Stopwatch.GetElapsedTime(start).TotalSeconds; groupBytes[group] += w.TotalBytes; }
                }
            var head = matrices[^1];
            long s = Stopwatch.GetTimestamp();
            MatMul.MatVec(head, x.AsSpan(0, head.Cols), y.AsSpan(0, head.Rows), default, pool, Activations);
            if (record) { groupWall[4] += Stopwatch.GetElapsedTime(s).TotalSeconds; groupBytes[4] += head.TotalBytes; }
        }
        Replay(record: false);

        // Rounds alternate (1) whole decode steps through the model and (2) the same products replayed alone, so a
        // burst of outside load hits both; per-step medians over the rounds.
        var stepWalls = new List<double>();
        var stepCpus = new List<double>();
        var replayWalls = new List<double>();
        var replayCpus = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            subject.Begin();
            subject.Prefill(prompt);
            var (wall, cpu) = Time(() =>
            {
                for (int i = 0; i < steps; i++) subject.Decode(prompt[i % context]);
            });
            subject.End();
            stepWalls.Add(wall / steps);
            stepCpus.Add(cpu / steps);
            (wall, cpu) = Time(() => { for (int i = 0; i < steps; i++) Replay(record: true); });
            replayWalls.Add(wall / steps);
            replayCpus.Add(cpu / steps);
        }
        double stepWall = ThroughputBenchmark.Median(stepWalls), stepCpu = ThroughputBenchmark.Median(stepCpus);
        double replayWall = ThroughputBenchmark.Median(replayWalls), replayCpu = ThroughputBenchmark.Median(replayCpus);
        steps *= rounds; // the group sums below cover every round

        // (3) One pool dispatch of a trivial job (what each kernel call pays before any work).
        double dispatch = 0;
        if (pool is not null)
        {
            var job = new NothingJob();
            for (int i = 0; i < 1000; i++) pool.For(64, job);
            long s = Stopwatch.GetTimestamp();
            for (int i = 0; i < 10000; i++) pool.For(64, job);
            dispatch = Stopwatch.GetElapsedTime(s).TotalSeconds / 10000;
        }

        long totalBytes = groupBytes.Sum() / steps;
        output.WriteLine(string.Create(c, $"  decode step (model):       {stepWall * 1e3,8:F2} ms wall  {stepCpu * 1e3,8:F2} ms CPU   → {1 / stepWall,6:F1} tok/s"));
        output.WriteLine(string.Create(c, $"  matvecs replayed (all):    {replayWall * 1e3,8:F2} ms wall  {replayCpu * 1e3,8:F2} ms CPU   {totalBytes / replayWall / 1e9,5:F1} GB/s of weights ({totalBytes / 1e6:F0} MB)"));
        for (int g = 0; g < Groups.Length; g++)
            output.WriteLine(string.Create(c, $"    {Groups[g],-8}                 {groupWall[g] / steps * 1e3,8:F2} ms wall   {groupBytes[g] / groupWall[g] / 1e9,5:F1} GB/s"));
        output.WriteLine(string.Create(c, $"  rest (attention, norms, RoPE, adds, sync): {(stepWall - replayWall) * 1e3,8:F2} ms wall ({(stepWall - replayWall) / stepWall:P0} of the step)"));
        if (pool is not null)
            output.WriteLine(string.Create(c, $"  one pool dispatch:         {dispatch * 1e6,8:F2} µs  (× ~{llm.Layers * 12 + 3} dispatches per step ≈ {dispatch * (llm.Layers * 12 + 3) * 1e3:F2} ms)"));
    }

    /// <summary>The decoder's matrices in step order (per layer q, k, v, o, gate, up, down), then the lm_head.</summary>
    private static WeightMatrix[] MapMatrices(Checkpoint checkpoint, int layers, bool tied)
    {
        var list = new List<WeightMatrix>();
        string[] parts = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
        for (int layer = 0; layer < layers; layer++)
            foreach (string part in parts)
                list.Add(Map(checkpoint, WeightNames.Llm(layer, part + ".weight")));
        list.Add(Map(checkpoint, tied ? WeightNames.TokenEmbedding : WeightNames.Output));
        return [.. list];
    }

    /// <summary>Diagnostic: the same matrices copied to private, 2 MiB-aligned memory (never freed; a profile run is short).</summary>
    private static WeightMatrix[] CopyToAnonymousMemory(WeightMatrix[] matrices) => matrices.Select(w =>
    {
        var copy = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)w.TotalBytes, 2 << 20);
        Buffer.MemoryCopy(w.Data, copy, w.TotalBytes, w.TotalBytes);
        return new WeightMatrix(w.Type, copy, w.Rows, w.Cols, w.RowBytes);
    }).ToArray();

    private static WeightMatrix Map(Checkpoint checkpoint, string name)
    {
        var weight = checkpoint.Weights.Require(name, checkpoint.SourcePath);
        long rowBytes = WeightReader.RowBytes(weight);
        var bytes = checkpoint.Tensors.GetData(weight.Tensor).Slice(weight.RowStart * rowBytes, weight.RowCount * rowBytes);
        return new WeightMatrix(weight.Tensor.Type, bytes.Pointer, checked((int)weight.RowCount), checked((int)WeightReader.RowElements(weight)), rowBytes);
    }

    private static (double Wall, double Cpu) Time(Action action)
    {
        using var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        action();
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds);
    }

    private readonly struct NothingJob : IRangeJob
    {
        public void Execute(int start, int end) { }
    }
}
