using MiniCPM.Engine;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Conversion;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm convert HF_FOLDER --out DIR [--type T] [--mmproj-type T]`: writes llama.cpp's GGUF pair
/// (ggml-model-T.gguf and, for a model with vision, mmproj-model-T.gguf) from an HF checkpoint.
/// </summary>
internal static class ConvertCommand
{
    public const string Usage = "usage: minicpm convert <hf-folder> --out <dir> [--type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1] [--mmproj-type f32|f16|…]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? source = null, outDir = null;
        var type = TensorType.F16;
        TensorType? mmprojType = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
                case "--type" when i + 1 < args.Length:
                    if (!TryParseType(args[++i], out type)) return Fail(error, $"unknown --type '{args[i]}'");
                    break;
                case "--mmproj-type" when i + 1 < args.Length:
                    if (!TryParseType(args[++i], out var t)) return Fail(error, $"unknown --mmproj-type '{args[i]}'");
                    mmprojType = t;
                    break;
                default:
                    if (args[i].StartsWith('-') || source is not null) return Fail(error, $"unexpected argument '{args[i]}'");
                    source = args[i];
                    break;
            }
        }
        if (source is null || outDir is null) return Fail(error, "a source and --out are required");
        if (!GgufExport.IsSupportedWeightType(type)) return Fail(error, $"--type {type} is not supported for conversion");

        try
        {
            using var checkpoint = Checkpoint.Open(source);
            if (checkpoint.Format == CheckpointFormat.Gguf) return Fail(error, "the source is already GGUF; convert from an HF folder");
            Directory.CreateDirectory(outDir);
            var written = new List<string>();
            if (checkpoint.Config.Llm is not null)
            {
                var path = Path.Combine(outDir, $"ggml-model-{TypeName(type)}.gguf");
                GgufExport.WriteTextModel(checkpoint, path, type);
                written.Add(path);
            }
            if (checkpoint.Config.Vision is not null)
            {
                var projectorType = mmprojType ?? (type == TensorType.F32 ? TensorType.F32 : TensorType.F16);
                var path = Path.Combine(outDir, $"mmproj-model-{TypeName(projectorType)}.gguf");
                int version = checkpoint.Config.Family == ModelFamily.MiniCPMO26 ? 4 : 3;
                GgufExport.WriteVisionProjector(checkpoint, path, projectorType, version);
                written.Add(path);
            }
            if (checkpoint.Config.Audio is not null)
                output.WriteLine("note: the audio encoder has no llama.cpp GGUF layout; it stays in the HF checkpoint");
            foreach (var path in written) output.WriteLine($"wrote {path} ({InfoCommand.FormatBytes(new FileInfo(path).Length)})");
            return 0;
        }
        catch (ModelFormatException e)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
    }

    private static bool TryParseType(string text, out TensorType type) => Enum.TryParse(text, ignoreCase: true, out type) && Enum.IsDefined(type);

    private static string TypeName(TensorType type) => type.ToString().ToLowerInvariant();

    private static int Fail(TextWriter error, string message, int exitCode = 2)
    {
        error.WriteLine($"minicpm convert: {message}");
        if (exitCode == 2) error.WriteLine(Usage);
        return exitCode;
    }
}
