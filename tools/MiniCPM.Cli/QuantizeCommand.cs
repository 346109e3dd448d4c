using MiniCPM.Engine.Conversion;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm quantize IN OUT --type T [--pure] [--threads N]`: llama-quantize's job (same tensor types, same bytes) from
/// a GGUF text model (F32/F16/BF16) or an HF folder / safetensors checkpoint.
/// </summary>
internal static class QuantizeCommand
{
    public static string Usage =>
        $"usage: minicpm quantize <in.gguf|hf-folder> <out.gguf> --type {string.Join('|', QuantizationScheme.Names)} [--pure] [--threads <n>]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? input = null, outPath = null, typeName = null;
        bool pure = false;
        int threads = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--type" when i + 1 < args.Length: typeName = args[++i]; break;
                case "--pure": pure = true; break;
                case "--threads" when i + 1 < args.Length:
                    if (!int.TryParse(args[++i], out threads) || threads < 1) return Fail(error, $"--threads must be a positive integer, not '{args[i]}'");
                    break;
                default:
                    if (args[i].StartsWith('-')) return Fail(error, $"unexpected argument '{args[i]}'");
                    if (input is null) input = args[i];
                    else if (outPath is null) outPath = args[i];
                    else return Fail(error, $"unexpected argument '{args[i]}'");
                    break;
            }
        }
        if (input is null || outPath is null || typeName is null) return Fail(error, "an input, an output and --type are required");
        var scheme = QuantizationScheme.Find(typeName);
        if (scheme is null) return Fail(error, $"unknown --type '{typeName}' (known: {string.Join(", ", QuantizationScheme.Names)})");
        if (pure) scheme = scheme with { Pure = true };
        if (!File.Exists(input) && !Directory.Exists(input)) return Fail(error, $"'{input}' does not exist", exitCode: 1);

        try
        {
            var result = GgufQuantizer.Quantize(input, outPath, scheme, threads);
            double seconds = Math.Max(result.Elapsed.TotalSeconds, 1e-9);
            output.WriteLine($"wrote {outPath}: {scheme.Name}{(scheme.Pure ? " (pure)" : "")}, {result.Quantized} of {result.Tensors} tensors quantized " +
                             $"({string.Join(", ", result.TensorsByType.OrderBy(kv => kv.Key).Select(kv => $"{kv.Value} {kv.Key}"))}), " +
                             $"{InfoCommand.FormatBytes(result.InputBytes)} → {InfoCommand.FormatBytes(result.OutputBytes)} in {seconds:F1} s " +
                             $"({result.InputBytes / 1e6 / seconds:F0} MB/s)");
            if (result.Fallbacks > 0)
                output.WriteLine($"note: {result.Fallbacks} tensor(s) took llama.cpp's fallback type (row length not a multiple of the chosen type's block)");
            return 0;
        }
        catch (ModelFormatException e)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
        catch (NotSupportedException e)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
    }

    private static int Fail(TextWriter error, string message, int exitCode = 2)
    {
        error.WriteLine($"minicpm quantize: {message}");
        if (exitCode == 2) error.WriteLine(Usage);
        return exitCode;
    }
}
