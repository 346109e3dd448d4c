using System.Diagnostics;
using System.Globalization;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm make-model --preset NAME --dtype f32|f16|bf16|q8_0|…|q4_k_m --out FILE.gguf|DIR [--seed S] [--dry-run]`: a deterministic
/// random-weight Qwen2 model in the real layout, as a llama.cpp GGUF (a path ending in .gguf) or an HF folder.
/// </summary>
internal static class MakeModelCommand
{
    public static string Usage =>
        "usage: minicpm make-model --preset <name> --dtype f32|f16|bf16 --out <file.gguf|dir> [--seed <n>] [--dry-run]\n" +
        "  presets: " + string.Join(", ", SyntheticModelSpec.Presets.Select(p => p.Name));

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? preset = null, dtype = null, outPath = null;
        ulong seed = 0;
        bool dryRun = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--preset" when i + 1 < args.Length: preset = args[++i]; break;
                case "--dtype" or "--type" when i + 1 < args.Length: dtype = args[++i]; break;
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                case "--seed" when i + 1 < args.Length:
                    if (!ulong.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out seed))
                        return Fail(error, $"--seed must be a non-negative integer, not '{args[i]}'");
                    break;
                case "--dry-run": dryRun = true; break;
                default: return Fail(error, $"unexpected argument '{args[i]}'");
            }
        }
        if (preset is null || dtype is null || outPath is null) return Fail(error, "--preset, --dtype and --out are required");
        if (SyntheticModelSpec.Presets.FirstOrDefault(p => p.Name == preset) is not { } spec)
            return Fail(error, $"unknown preset '{preset}'");
        // A quantized type (q8_0 … q4_k_m): the F32 model is written to a temporary GGUF and quantized as `minicpm quantize` does.
        var quantization = QuantizationScheme.Find(dtype);
        TensorType? type = quantization is not null ? TensorType.F32
            : dtype.ToLowerInvariant() switch { "f32" => TensorType.F32, "f16" => TensorType.F16, "bf16" => TensorType.BF16, _ => null };
        if (type is null) return Fail(error, $"unknown --dtype '{dtype}' (f32, f16, bf16 or {string.Join(", ", QuantizationScheme.Names)})");

        var format = outPath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? SyntheticModelFormat.Gguf : SyntheticModelFormat.HfFolder;
        if (quantization is not null && format != SyntheticModelFormat.Gguf) return Fail(error, $"--type {dtype} needs a .gguf output");
        if (spec.Audio is not null && format == SyntheticModelFormat.Gguf)
            return Fail(error, $"preset '{spec.Name}' has an audio encoder, which only an HF folder holds: give --out a folder, not a .gguf file");
        var plan = SyntheticModel.Plan(spec, type.Value, format);
        var l = spec.Llm;
        output.WriteLine($"preset {spec.Name}: hidden {l.HiddenSize}, layers {l.Layers}, heads {l.Heads} (kv {l.KvHeads}), ffn {l.IntermediateSize}, vocab {l.VocabSize}, lm_head {(l.TieWordEmbeddings ? "tied" : "untied")}");
        if (spec.Vision is { } v)
            output.WriteLine($"vision tower: SigLIP hidden {v.HiddenSize}, layers {v.Layers}, heads {v.Heads}, ffn {v.IntermediateSize}, patch {v.PatchSize}; resampler {spec.Resampler!.Queries} queries → {spec.Resampler.EmbedDim}" +
                (format == SyntheticModelFormat.Gguf ? $"; mmproj {SyntheticModel.MmprojPathFor(outPath)}" : ""));
        if (spec.Audio is { } a)
            output.WriteLine($"audio: Whisper d_model {a.DModel}, layers {a.Layers}, heads {a.Heads}, ffn {a.FfnDim}, {a.MelBins} mel bins; projection {a.DModel} → {l.HiddenSize}, pool step {a.PoolStep}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(format == SyntheticModelFormat.Gguf ? "GGUF" : "HF folder")}, {dtype.ToLowerInvariant()}, seed {seed}: {plan.Count} tensors, {plan.Sum(t => t.Elements())} parameters, {InfoCommand.FormatBytes(plan.Sum(t => t.Bytes))} of weights"));
        if (dryRun) return 0;

        try
        {
            var clock = Stopwatch.StartNew();
            if (format == SyntheticModelFormat.Gguf)
            {
                if (Path.GetDirectoryName(Path.GetFullPath(outPath)) is { } folder) Directory.CreateDirectory(folder);
                if (quantization is null) SyntheticModel.WriteGguf(spec, outPath, type.Value, seed);
                else
                {
                    string source = outPath + ".f32.tmp";
                    try
                    {
                        SyntheticModel.WriteGguf(spec, source, TensorType.F32, seed);
                        GgufQuantizer.Quantize(source, outPath, quantization);
                    }
                    finally { File.Delete(source); }
                }
            }
            else SyntheticModel.WriteHfFolder(spec, outPath, type.Value, seed);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {outPath} in {clock.Elapsed.TotalSeconds:0.0} s"));
            return 0;
        }
        catch (IOException e)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
        catch (UnauthorizedAccessException e)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
    }

    private static long Elements(this PlannedTensor t) => t.Shape.Aggregate(1L, (a, b) => a * b);

    private static int Fail(TextWriter error, string message, int exitCode = 2)
    {
        error.WriteLine($"minicpm make-model: {message}");
        if (exitCode == 2) error.WriteLine(Usage);
        return exitCode;
    }
}
