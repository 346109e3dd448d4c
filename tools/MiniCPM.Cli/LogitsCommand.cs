using System.Globalization;
using System.Text;
using System.Text.Json;
using MiniCPM.Engine;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm logits --model PATH (--tokens 1,2,3 | --prompt TEXT) [--out FILE] [--threads N]`: the float32 logits at
/// every position as JSON {"tokens":[…],"logits":[[…],…]} (stdout, or FILE). --prompt uses the model's tokenizer
/// (GGUF metadata, or tokenizer.json in the HF folder).
/// </summary>
internal static class LogitsCommand
{
    public const string Usage = "usage: minicpm logits --model <path> (--tokens 1,2,3 | --prompt <text>) [--out <file>] [--threads N] [--device cpu|cuda[:N]|opencl[:N]]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? model = null, tokensText = null, prompt = null, outPath = null;
        string device = "cpu";
        int threads = Math.Min(Environment.ProcessorCount, 4);
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--tokens": tokensText = Next(); break;
                case "--prompt": prompt = Next(); break;
                case "--out": outPath = Next(); break;
                case "--device": device = Next() ?? "cpu"; break;
                case "--threads":
                    if (!int.TryParse(Next(), out threads) || threads < 1) return Fail(error, "--threads needs a positive integer");
                    break;
                default: return Fail(error, $"unexpected argument '{args[i]}'");
            }
        }
        if (model is null) return Fail(error, "--model is required");
        if ((tokensText is null) == (prompt is null)) return Fail(error, "give exactly one of --tokens and --prompt");

        try
        {
            int[] tokens = tokensText is not null ? ParseTokens(tokensText) : Tokenize(model, prompt!);
            if (tokens.Length == 0) return Fail(error, "no tokens to run");
            using ILanguageModel lm = device == "cpu"
                ? Qwen2Model.Load(model, new Qwen2Options { Threads = threads, KvCacheTokens = tokens.Length })
                : Qwen2GpuModel.Load(model, new Qwen2GpuOptions { Device = device, KvCacheTokens = tokens.Length });
            var sequence = lm.CreateSequence();
            var request = new ForwardRequest { Sequence = sequence, Tokens = tokens, AllLogits = true };
            lm.Forward([request]);

            if (outPath is not null)
            {
                using (var file = File.Create(outPath)) WriteJson(file, tokens, request.Logits!, lm.VocabularySize);
                output.WriteLine($"wrote {tokens.Length}×{lm.VocabularySize} logits to {outPath}");
            }
            else
            {
                using var buffer = new MemoryStream();
                WriteJson(buffer, tokens, request.Logits!, lm.VocabularySize);
                output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            }
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or GpuUnavailableException or GpuOutOfMemoryException or TokenOutOfRangeException or ContextOverflowException
                                      or KvCacheExhaustedException or UnsupportedWeightTypeException or TokenizerNotFoundException or FormatException or IOException)
        {
            error.WriteLine($"minicpm logits: {e.Message}");
            return 1;
        }
    }

    private static int[] ParseTokens(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id)
                ? id
                : throw new FormatException($"--tokens: '{t}' is not an integer token id"))
            .ToArray();

    /// <summary>The prompt's ids with the model's own tokenizer (GGUF metadata, or tokenizer.json in or beside the model).</summary>
    private static int[] Tokenize(string modelPath, string prompt) => ModelTokenizer.Load(modelPath).Encode(prompt);

    private static void WriteJson(Stream stream, int[] tokens, float[] logits, int vocab)
    {
        using var json = new Utf8JsonWriter(stream);
        json.WriteStartObject();
        json.WriteStartArray("tokens");
        foreach (int id in tokens) json.WriteNumberValue(id);
        json.WriteEndArray();
        json.WriteStartArray("logits");
        for (int row = 0; row < tokens.Length; row++)
        {
            json.WriteStartArray();
            foreach (float value in logits.AsSpan(row * vocab, vocab)) json.WriteNumberValue(value);
            json.WriteEndArray();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"minicpm logits: {message}");
        error.WriteLine(Usage);
        return 2;
    }
}
