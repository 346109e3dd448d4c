using System.Text.Json;
using MiniCPM.Engine;
using MiniCPM.Engine.Images;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Vision;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm embed-image --model PATH [--mmproj FILE] --image FILE [--max-slices N] [--out FILE] [--threads N]`: one
/// image through decoding, UHD slicing, SigLIP and the resampler, as JSON
/// {"image_width":W,"image_height":H,"grid":[rows,cols],"slices":[{"role":"overview"|"slice","width":w,"height":h,
/// "embeddings":[[…],…]}]} — the overview first, then the slices row by row, each with its resampler rows.
/// The vision tower comes from the mmproj when given (llama.cpp GGUF pairs), else from the model (an HF folder).
/// </summary>
internal static class EmbedImageCommand
{
    public const string Usage = "usage: minicpm embed-image --model <path> [--mmproj <file>] --image <file> [--max-slices N] [--out <file>] [--threads N]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? model = null, mmproj = null, image = null, outPath = null;
        int? maxSlices = null;
        int threads = Math.Min(Environment.ProcessorCount, 4);
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--mmproj": mmproj = Next(); break;
                case "--image": image = Next(); break;
                case "--out": outPath = Next(); break;
                case "--max-slices":
                    if (!int.TryParse(Next(), out int cap) || cap < 1) return Fail(error, "--max-slices needs a positive integer");
                    maxSlices = cap;
                    break;
                case "--threads":
                    if (!int.TryParse(Next(), out threads) || threads < 1) return Fail(error, "--threads needs a positive integer");
                    break;
                default: return Fail(error, $"unexpected argument '{args[i]}'");
            }
        }
        if (model is null && mmproj is null) return Fail(error, "--model (or --mmproj) is required");
        if (image is null) return Fail(error, "--image is required");

        return CliErrors.Guard("embed-image", error, () =>
        {
            // Slicing settings live in the model's config.json; a GGUF pair uses MiniCPM-V 2.6's defaults.
            Engine.Configuration.SliceConfig? slicing = null;
            if (model is not null) { using var checkpoint = Checkpoint.Open(model); slicing = checkpoint.Config.Slicing; }
            using var tower = VisionTower.Load(mmproj ?? model!, threads);
            var encoder = new ModelMediaEncoder(tower, null, slicing, mmproj ?? model!);
            var decoded = ImageDecoder.Decode(image);
            var (pre, rows) = encoder.EmbedImage(decoded, maxSlices);

            Stream stream = outPath is null ? new MemoryStream() : File.Create(outPath);
            using (stream)
            {
                WriteJson(stream, pre, rows, tower.RowWidth);
                if (outPath is null)
                    output.WriteLine(System.Text.Encoding.UTF8.GetString(((MemoryStream)stream).GetBuffer(), 0, (int)stream.Length));
                else
                    output.WriteLine($"wrote {pre.Pieces.Count} pieces × {tower.RowsPerSlice} rows × {tower.RowWidth} to {outPath}");
            }
            return 0;
        });
    }

    private static void WriteJson(Stream stream, PreprocessedImage image, float[][] rows, int width)
    {
        using var json = new Utf8JsonWriter(stream);
        json.WriteStartObject();
        json.WriteNumber("image_width", image.Plan.OriginalWidth);
        json.WriteNumber("image_height", image.Plan.OriginalHeight);
        json.WriteStartArray("grid");
        json.WriteNumberValue(image.Plan.Grid?.Rows ?? 0);
        json.WriteNumberValue(image.Plan.Grid?.Columns ?? 0);
        json.WriteEndArray();
        json.WriteStartArray("slices");
        for (int p = 0; p < image.Pieces.Count; p++)
        {
            var piece = image.Pieces[p];
            json.WriteStartObject();
            json.WriteString("role", piece.Role == ImagePieceRole.Overview ? "overview" : "slice");
            json.WriteNumber("width", piece.Width);
            json.WriteNumber("height", piece.Height);
            json.WriteStartArray("embeddings");
            for (int r = 0; r < rows[p].Length / width; r++)
            {
                json.WriteStartArray();
                foreach (float v in rows[p].AsSpan(r * width, width)) json.WriteNumberValue(v);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"minicpm embed-image: {message}");
        error.WriteLine(Usage);
        return 2;
    }
}
