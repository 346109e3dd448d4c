using System.Globalization;
using MiniCPM.Engine.Benchmarking;
using MiniCPM.Loaders;

namespace MiniCPM.PeerBench;

/// <summary>
/// The engine and llama.cpp on the same GGUF file in one process: one warm-up run each, then measured runs
/// alternating engine, llama.cpp, engine, … so that both see the same machine load; medians and engine/llama.cpp ratios.
/// </summary>
internal static class PeerComparison
{
    public sealed record Result(
        string File, string WeightsType, long FileBytes, long KvCacheBytes,
        IReadOnlyList<ThroughputRun> Engine, IReadOnlyList<ThroughputRun> LlamaCpp, IReadOnlyList<ThroughputRun>? LlamaCppMapped,
        string LlamaLoadMode, long LlamaResidentGrowth, double[]? LoadBefore, double[]? LoadAfter)
    {
        public double EnginePrefill => ThroughputBenchmark.Median(Engine.Select(r => r.PrefillTokensPerSecond));
        public double EngineDecode => ThroughputBenchmark.Median(Engine.Select(r => r.DecodeTokensPerSecond));
        public double LlamaPrefill => ThroughputBenchmark.Median(LlamaCpp.Select(r => r.PrefillTokensPerSecond));
        public double LlamaDecode => ThroughputBenchmark.Median(LlamaCpp.Select(r => r.DecodeTokensPerSecond));
        public double MappedPrefill => ThroughputBenchmark.Median(LlamaCppMapped!.Select(r => r.PrefillTokensPerSecond));
        public double MappedDecode => ThroughputBenchmark.Median(LlamaCppMapped!.Select(r => r.DecodeTokensPerSecond));

        /// <summary>How many greedy picks of the first engine run equal llama.cpp's, in order, before the first difference.</summary>
        public int AgreeingPrefix => Engine[0].Tokens.Zip(LlamaCpp[0].Tokens).TakeWhile(p => p.First == p.Second).Count();
    }

    /// <param name="withMappedLlama">Also measure llama.cpp mapping the file (a third subject in the alternation).</param>
    public static Result Run(string path, int threads, int promptTokens, int gen, int runs, bool withMappedLlama, TextWriter log,
        FileResidency engineWeights = FileResidency.Mapped)
    {
        var loadBefore = ProcessStats.LoadAverage();
        using var engine = BenchModel.Open(path, threads, promptTokens + gen, engineWeights);
        using var llama = new LlamaCppSubject(path, threads, promptTokens + gen);
        log.WriteLine($"  {engine.WeightsType}: llama.cpp load mode {llama.LoadMode}, resident memory +{llama.ResidentGrowthAtLoad / 1e6:F0} MB at load (file {engine.FileBytes / 1e6:F0} MB)");
        using var mapped = withMappedLlama ? new LlamaCppSubject(path, threads, promptTokens + gen, memoryMap: true) : null;
        var engineSubject = new LanguageModelSubject(engine.Model);
        var prompt = ThroughputBenchmark.DeterministicPrompt(promptTokens, Math.Min(engine.Model.EmbeddingRows, engine.Model.Config.VocabSize));

        ThroughputBenchmark.Measure(engineSubject, prompt, gen);
        ThroughputBenchmark.Measure(llama, prompt, gen);
        if (mapped is not null) ThroughputBenchmark.Measure(mapped, prompt, gen);
        var engineRuns = new List<ThroughputRun>();
        var llamaRuns = new List<ThroughputRun>();
        var mappedRuns = new List<ThroughputRun>();
        for (int i = 0; i < runs; i++)
        {
            var e = ThroughputBenchmark.Measure(engineSubject, prompt, gen);
            var l = ThroughputBenchmark.Measure(llama, prompt, gen);
            var m = mapped is null ? null : ThroughputBenchmark.Measure(mapped, prompt, gen);
            engineRuns.Add(e);
            llamaRuns.Add(l);
            if (m is not null) mappedRuns.Add(m);
            var c = CultureInfo.InvariantCulture;
            string mappedText = m is null ? "" : string.Create(c, $"   llama.cpp mmap {m.PrefillTokensPerSecond,7:F1} / {m.DecodeTokensPerSecond,6:F1}");
            log.WriteLine(string.Create(c,
                $"  {engine.WeightsType} run {i + 1}: engine {e.PrefillTokensPerSecond,7:F1} / {e.DecodeTokensPerSecond,6:F1}   llama.cpp {l.PrefillTokensPerSecond,7:F1} / {l.DecodeTokensPerSecond,6:F1}{mappedText}   (prefill / decode tok/s; load {Load(ProcessStats.LoadAverage())})"));
        }
        return new Result(path, engine.WeightsType, engine.FileBytes, engine.KvCacheBytes, engineRuns, llamaRuns,
            mapped is null ? null : mappedRuns, llama.LoadMode, llama.ResidentGrowthAtLoad, loadBefore, ProcessStats.LoadAverage());
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
        if (results.Any(r => r.LlamaCppMapped is not null))
        {
            output.WriteLine();
            output.WriteLine("llama.cpp mapping the file (LoadMode.MemoryMap, as the engine does) in the same alternation:");
            output.WriteLine();
            output.WriteLine("| weights | engine prefill | llama.cpp mmap prefill | ratio | engine decode | llama.cpp mmap decode | ratio |");
            output.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var r in results.Where(r => r.LlamaCppMapped is not null))
                output.WriteLine(string.Create(c,
                    $"| {r.WeightsType} | {r.EnginePrefill:F1} | {r.MappedPrefill:F1} | {r.EnginePrefill / r.MappedPrefill:F2} | {r.EngineDecode:F1} | {r.MappedDecode:F1} | {r.EngineDecode / r.MappedDecode:F2} |"));
        }
        output.WriteLine();
        foreach (var r in results)
            output.WriteLine(string.Create(c, $"- {r.WeightsType}: llama.cpp default load mode {r.LlamaLoadMode}: resident memory grew {r.LlamaResidentGrowth / 1e6:F0} MB at load (file {r.FileBytes / 1e6:F0} MB)."));
        output.WriteLine();
        output.WriteLine("Per-run tokens/s (prefill / decode), in the order measured:");
        foreach (var r in results)
        {
            output.WriteLine(string.Create(c, $"- {r.WeightsType} engine:    {string.Join("; ", r.Engine.Select(x => $"{x.PrefillTokensPerSecond:F1} / {x.DecodeTokensPerSecond:F1}"))}"));
            output.WriteLine(string.Create(c, $"- {r.WeightsType} llama.cpp: {string.Join("; ", r.LlamaCpp.Select(x => $"{x.PrefillTokensPerSecond:F1} / {x.DecodeTokensPerSecond:F1}"))}"));
            if (r.LlamaCppMapped is { } m)
                output.WriteLine(string.Create(c, $"- {r.WeightsType} llama.cpp mmap: {string.Join("; ", m.Select(x => $"{x.PrefillTokensPerSecond:F1} / {x.DecodeTokensPerSecond:F1}"))}"));
        }
    }
}
