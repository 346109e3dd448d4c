using System.Globalization;
using MiniCPM.Engine;
using MiniCPM.Engine.Generation;

namespace MiniCPM.Cli;

/// <summary>The model and decoding options shared by `generate` and `chat`.</summary>
internal sealed class GenerationArguments
{
    public const string Help =
        "  --model <path> [--tokenizer <path>] [--device cpu|cuda[:N]|opencl[:N]] [--gpu-memory 20G] [--threads N] [--kv-tokens N] [--weights-in-memory]\n" +
        "  [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R] [--seed S]\n" +
        "  [--greedy | --beams N] [--stop TEXT]…\n" +
        "  [--image FILE]… [--audio FILE]… [--mmproj FILE] [--max-slices N]   (images/audio: MiniCPM-V / MiniCPM-o)";

    public string? Model { get; private set; }
    public MiniCpmOptions LoadOptions { get; private set; } = new();
    public GenerationOptions Generation { get; private set; } = GenerationOptions.MiniCpmSampling;

    /// <summary>Images (--image) and audio (--audio) for the first user message, in the order given.</summary>
    public List<Engine.Multimodal.ChatMedia> Media { get; } = [];

    /// <summary>Arguments this parser does not know, in order, for the command's own options.</summary>
    public List<string> Rest { get; } = [];

    public static GenerationArguments Parse(string[] args)
    {
        var parsed = new GenerationArguments();
        var stops = new List<string>();
        int? maxSlices = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--model": parsed.Model = Next(); break;
                case "--tokenizer": parsed.LoadOptions = parsed.LoadOptions with { TokenizerPath = Next() }; break;
                case "--device": parsed.LoadOptions = parsed.LoadOptions with { Device = Next() }; break;
                case "--threads": parsed.LoadOptions = parsed.LoadOptions with { Threads = PositiveInt("--threads", Next()) }; break;
                case "--gpu-memory": parsed.LoadOptions = parsed.LoadOptions with { GpuMemoryLimitBytes = ByteCount("--gpu-memory", Next()) }; break;
                case "--kv-tokens": parsed.LoadOptions = parsed.LoadOptions with { KvCacheTokens = PositiveInt("--kv-tokens", Next()) }; break;
                case "--weights-in-memory": parsed.LoadOptions = parsed.LoadOptions with { WeightResidency = Loaders.FileResidency.InMemory }; break;
                case "--max-tokens": parsed.Generation = parsed.Generation with { MaxNewTokens = PositiveInt("--max-tokens", Next()) }; break;
                case "--temperature": parsed.Generation = parsed.Generation with { Temperature = Float("--temperature", Next()) }; break;
                case "--top-p": parsed.Generation = parsed.Generation with { TopP = Float("--top-p", Next()) }; break;
                case "--top-k": parsed.Generation = parsed.Generation with { TopK = PositiveInt("--top-k", Next(), allowZero: true) }; break;
                case "--min-p": parsed.Generation = parsed.Generation with { MinP = Float("--min-p", Next()) }; break;
                case "--repetition-penalty": parsed.Generation = parsed.Generation with { RepetitionPenalty = Float("--repetition-penalty", Next()) }; break;
                case "--seed":
                    string seedText = Next();
                    if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
                        throw new FormatException($"--seed must be a non-negative integer, not '{seedText}'");
                    parsed.Generation = parsed.Generation with { Seed = seed };
                    break;
                case "--greedy": parsed.Generation = parsed.Generation with { Strategy = DecodingStrategy.Greedy }; break;
                case "--beams":
                    parsed.Generation = parsed.Generation with { Strategy = DecodingStrategy.BeamSearch, NumBeams = PositiveInt("--beams", Next()) };
                    break;
                case "--stop": stops.Add(Next()); break;
                case "--image": parsed.Media.Add(ReadMedia("--image", Next(), Engine.Multimodal.ChatMedia.ImageFile)); break;
                case "--audio": parsed.Media.Add(ReadMedia("--audio", Next(), Engine.Multimodal.ChatMedia.AudioFile)); break;
                case "--mmproj": parsed.LoadOptions = parsed.LoadOptions with { MmprojPath = Next() }; break;
                case "--max-slices": maxSlices = PositiveInt("--max-slices", Next()); break;
                default: parsed.Rest.Add(args[i]); break;
            }
        }
        if (stops.Count > 0) parsed.Generation = parsed.Generation with { StopStrings = stops };
        if (maxSlices is { } cap)
            for (int m = 0; m < parsed.Media.Count; m++)
                if (parsed.Media[m] is Engine.Multimodal.ImageMedia image) parsed.Media[m] = image with { MaxSlices = cap };
        return parsed;
    }

    private static Engine.Multimodal.ChatMedia ReadMedia(string name, string path, Func<string, Engine.Multimodal.ChatMedia> read)
    {
        try
        {
            return read(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"{name} {path}: {e.Message}");
        }
    }

    private static int PositiveInt(string name, string text, bool allowZero = false) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && (v > 0 || (allowZero && v == 0))
            ? v
            : throw new FormatException($"{name} must be a {(allowZero ? "non-negative" : "positive")} integer, not '{text}'");

    /// <summary>A size in bytes, or with a binary suffix: 512M, 20G, 1.5G (K, M, G, T are powers of 1024, so 20G and 20GB
    /// both mean 20 GiB; an optional "iB" or "B").</summary>
    internal static long ByteCount(string name, string text)
    {
        string t = text.Trim();
        if (t.EndsWith("iB", StringComparison.OrdinalIgnoreCase) && t.Length > 2 && char.IsLetter(t[^3])) t = t[..^2];
        else if (t.EndsWith('B') || t.EndsWith('b')) t = t[..^1];
        int shift = t.Length > 0 ? char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 } : 0;
        if (shift > 0) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value)
            || value * Math.Pow(2, shift) < 1 || value * Math.Pow(2, shift) >= long.MaxValue)
            throw new FormatException($"{name} must be a positive size such as 20G, 512M or a byte count, not '{text}'");
        return (long)(value * Math.Pow(2, shift));
    }

    private static float Float(string name, string text) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
            ? v
            : throw new FormatException($"{name} must be a number, not '{text}'");
}
