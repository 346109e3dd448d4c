using System.Globalization;
using System.Text;
using System.Text.Json;
using MiniCPM.Engine.Benchmarking;
using MiniCPM.Engine.Errors;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm bench --model PATH [--prompt-tokens 128] [--gen 64] [--threads 2] [--runs 5] [--warmup 1] [--kv-tokens N]`:
/// prefill and greedy-decode tokens/s (medians over the runs, and every run), with the peak RSS, file size and KV
/// cache bytes, as JSON on stdout. The prompt is a fixed list of token ids (<see cref="ThroughputBenchmark.DeterministicPrompt"/>).
/// </summary>
internal static class BenchCommand
{
    public const string Usage = "usage: minicpm bench --model <path> [--prompt-tokens 128] [--gen 64] [--threads 2] [--runs 5] [--warmup 1] [--kv-tokens N] [--weights-in-memory]";

    /// <summary>Head room over file size + KV cache that the memory goal allows (issue 3: 300 MB).</summary>
    private const long MemoryHeadroomBytes = 300L * 1000 * 1000;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? model = null;
        int promptTokens = 128, gen = 64, threads = 2, runs = 5, warmup = 1;
        int? kvTokens = null;
        var residency = FileResidency.Mapped;
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            bool Positive(out int value, bool allowZero = false) =>
                int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && (value > 0 || (allowZero && value == 0));
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--prompt-tokens": if (!Positive(out promptTokens)) return Fail(error, "--prompt-tokens needs a positive integer"); break;
                case "--gen": if (!Positive(out gen, allowZero: true)) return Fail(error, "--gen needs a non-negative integer"); break;
                case "--threads": if (!Positive(out threads)) return Fail(error, "--threads needs a positive integer"); break;
                case "--runs": if (!Positive(out runs)) return Fail(error, "--runs needs a positive integer"); break;
                case "--warmup": if (!Positive(out warmup, allowZero: true)) return Fail(error, "--warmup needs a non-negative integer"); break;
                case "--kv-tokens":
                    if (!Positive(out int kv)) return Fail(error, "--kv-tokens needs a positive integer");
                    kvTokens = kv;
                    break;
                case "--weights-in-memory": residency = FileResidency.InMemory; break;
                default: return Fail(error, $"unexpected argument '{args[i]}'");
            }
        }
        if (model is null) return Fail(error, "--model is required");
        int needed = promptTokens + gen;
        if (kvTokens < needed) return Fail(error, $"--kv-tokens {kvTokens} cannot hold {promptTokens} prompt + {gen} generated tokens");

        try
        {
            var loadBefore = ProcessStats.LoadAverage();
            var loadStarted = DateTime.UtcNow;
            using var bench = BenchModel.Open(model, threads, kvTokens ?? needed, residency);
            double loadSeconds = (DateTime.UtcNow - loadStarted).TotalSeconds;
            var prompt = ThroughputBenchmark.DeterministicPrompt(promptTokens, Math.Min(bench.Model.EmbeddingRows, bench.Model.Config.VocabSize));
            var subject = new LanguageModelSubject(bench.Model);

            for (int i = 0; i < warmup; i++) ThroughputBenchmark.Measure(subject, prompt, gen);
            var measured = new List<ThroughputRun>();
            for (int i = 0; i < runs; i++) measured.Add(ThroughputBenchmark.Measure(subject, prompt, gen));

            long peak = ProcessStats.PeakResidentBytes();
            long budget = bench.FileBytes + bench.KvCacheBytes + MemoryHeadroomBytes;
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteNumber("prefill_tokens_per_s", Round(ThroughputBenchmark.Median(measured.Select(r => r.PrefillTokensPerSecond))));
                json.WriteNumber("decode_tokens_per_s", gen == 0 ? 0 : Round(ThroughputBenchmark.Median(measured.Select(r => r.DecodeTokensPerSecond))));
                WriteArray(json, "prefill_runs_tokens_per_s", measured.Select(r => Round(r.PrefillTokensPerSecond)));
                WriteArray(json, "decode_runs_tokens_per_s", measured.Select(r => gen == 0 ? 0 : Round(r.DecodeTokensPerSecond)));
                json.WriteString("model", Path.GetFullPath(model));
                json.WriteString("weights_dtype", bench.WeightsType);
                json.WriteString("weights_residency", residency == FileResidency.Mapped ? "mapped" : "in-memory");
                json.WriteNumber("file_bytes", bench.FileBytes);
                json.WriteNumber("threads", threads);
                json.WriteNumber("prompt_tokens", promptTokens);
                json.WriteNumber("gen_tokens", gen);
                json.WriteNumber("runs", runs);
                json.WriteNumber("warmup_runs", warmup);
                json.WriteNumber("load_seconds", Round(loadSeconds));
                json.WriteNumber("kv_cache_tokens", bench.KvCacheTokens);
                json.WriteNumber("kv_cache_bytes", bench.KvCacheBytes);
                json.WriteNumber("peak_rss_bytes", peak);
                json.WriteNumber("memory_budget_bytes", budget);
                json.WriteBoolean("peak_rss_within_budget", peak <= budget);
                if (loadBefore is not null) WriteArray(json, "load_average_before", loadBefore);
                if (ProcessStats.LoadAverage() is { } loadAfter) WriteArray(json, "load_average_after", loadAfter);
                json.WriteEndObject();
            }
            output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or UnsupportedWeightTypeException or KvCacheExhaustedException
                                      or ContextOverflowException or IOException)
        {
            error.WriteLine($"minicpm bench: {e.Message}");
            return 1;
        }
    }

    private static double Round(double value) => Math.Round(value, 3);

    private static void WriteArray(Utf8JsonWriter json, string name, IEnumerable<double> values)
    {
        json.WriteStartArray(name);
        foreach (double v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"minicpm bench: {message}");
        error.WriteLine(Usage);
        return 2;
    }
}
