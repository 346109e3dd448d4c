using System.Globalization;
using MiniCPM.Engine.Benchmarking;

namespace MiniCPM.PeerBench;

/// <summary>
/// The engine and llama.cpp on the same GGUF file in one process: one warm-up run each, then measured runs
/// alternating engine, llama.cpp, engine, … so that both see the same machine load; medians and engine/llama.cpp ratios.
/// </summary>
internal static class PeerComparison
{
    public sealed record Result(
        string File, string WeightsType, long FileBytes, long KvCacheBytes,
        IReadOnlyList<ThroughputRun> Engine, IReadOnlyList<ThroughputRun> LlamaCpp,
        double[]? LoadBefore, double[]? LoadAfter)
    {
        public double EnginePrefill => ThroughputBenchmark.Median(Engine.Select(r => r.PrefillTokensPerSecond));
        public double EngineDecode => ThroughputBenchmark.Median(Engine.Select(r => r.DecodeTokensPerSecond));
        public double LlamaPrefill => ThroughputBenchmark.Median(LlamaCpp.Select(r => r.PrefillTokensPerSecond));
        public double LlamaDecode => ThroughputBenchmark.Median(LlamaCpp.Select(r => r.DecodeTokensPerSecond));

        /// <summary>How many greedy picks of the first engine run equal llama.cpp's, in order, before the first difference.</summary>
        public int AgreeingPrefix => Engine[0].Tokens.Zip(LlamaCpp[0].Tokens).TakeWhile(p => p.First == p.Second).Count();
    }

    public static Result Run(string path, int threads, int promptTokens, int gen, int runs, TextWriter log)
    {
        var loadBefore = ProcessStats.LoadAverage();
        using var engine = BenchModel.Open(path, threads, promptTokens + gen);
        using var llama = new LlamaCppSubject(path, threads, promptTokens + gen);
        var engineSubject = new LanguageModelSubject(engine.Model);
        var prompt = ThroughputBenchmark.DeterministicPrompt(promptTokens, Math.Min(engine.Model.EmbeddingRows, engine.Model.Config.VocabSize));

        ThroughputBenchmark.Measure(engineSubject, prompt, gen);
        ThroughputBenchmark.Measure(llama, prompt, gen);
        var engineRuns = new List<ThroughputRun>();
        var llamaRuns = new List<ThroughputRun>();
        for (int i = 0; i < runs; i++)
        {
            var e = ThroughputBenchmark.Measure(engineSubject, prompt, gen);
            var l = ThroughputBenchmark.Measure(llama, prompt, gen);
            engineRuns.Add(e);
            llamaRuns.Add(l);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {engine.WeightsType} run {i + 1}: engine {e.PrefillTokensPerSecond,7:F1} / {e.DecodeTokensPerSecond,6:F1}   llama.cpp {l.PrefillTokensPerSecond,7:F1} / {l.DecodeTokensPerSecond,6:F1}   (prefill / decode tok/s; load {Load(ProcessStats.LoadAverage())})"));
        }
        return new Result(path, engine.WeightsType, engine.FileBytes, engine.KvCacheBytes, engineRuns, llamaRuns, loadBefore, ProcessStats.LoadAverage());
    }

    public static string Load(double[]? load) =>
        load is null ? "n/a" : string.Join(", ", load.Select(v => v.ToString("F2", CultureInfo.InvariantCulture)));

    /// <summary>The results as a Markdown table for bench/RESULTS.md.</summary>
    public static void WriteMarkdown(IReadOnlyList<Result> results, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine("| weights | engine prefill | llama.cpp prefill | ratio | engine decode | llama.cpp decode | ratio | greedy picks equal | load avg before → after |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            output.WriteLine(string.Create(c,
                $"| {r.WeightsType} | {r.EnginePrefill:F1} | {r.LlamaPrefill:F1} | {r.EnginePrefill / r.LlamaPrefill:F2} | {r.EngineDecode:F1} | {r.LlamaDecode:F1} | {r.EngineDecode / r.LlamaDecode:F2} | {r.AgreeingPrefix}/{r.Engine[0].Tokens.Length} | {Load(r.LoadBefore)} → {Load(r.LoadAfter)} |"));
        output.WriteLine();
        output.WriteLine("Per-run tokens/s (prefill / decode), in the order measured:");
        foreach (var r in results)
        {
            output.WriteLine(string.Create(c, $"- {r.WeightsType} engine:    {string.Join("; ", r.Engine.Select(x => $"{x.PrefillTokensPerSecond:F1} / {x.DecodeTokensPerSecond:F1}"))}"));
            output.WriteLine(string.Create(c, $"- {r.WeightsType} llama.cpp: {string.Join("; ", r.LlamaCpp.Select(x => $"{x.PrefillTokensPerSecond:F1} / {x.DecodeTokensPerSecond:F1}"))}"));
        }
    }
}
