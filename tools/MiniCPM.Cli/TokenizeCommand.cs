using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm tokenize --model PATH (--text TEXT | --in FILE.jsonl) [--parse-special] [--out FILE.jsonl]`: token ids of
/// each input, one JSON line {"text":…,"ids":[…]} per input in order. PATH is a GGUF file, an HF folder or a
/// tokenizer.json. Special tokens written in the text (&lt;|im_end|&gt;) are plain text unless --parse-special.
/// </summary>
internal static class TokenizeCommand
{
    public const string Usage = "usage: minicpm tokenize --model <gguf|hf-folder|tokenizer.json> (--text <text> | --in <file.jsonl>) [--parse-special] [--out <file.jsonl>]";

    private static readonly JsonWriterOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An input that cannot be tokenized; reported with its line number.</summary>
    private sealed class BadInputException(string message) : Exception(message);

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? model = null, text = null, inPath = null, outPath = null;
        bool parseSpecial = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model" when i + 1 < args.Length: model = args[++i]; break;
                case "--text" when i + 1 < args.Length: text = args[++i]; break;
                case "--in" when i + 1 < args.Length: inPath = args[++i]; break;
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                case "--parse-special": parseSpecial = true; break;
                default: return Fail(error, $"unexpected argument '{args[i]}'");
            }
        }
        if (model is null) return Fail(error, "--model is required");
        if ((text is null) == (inPath is null)) return Fail(error, "give exactly one of --text and --in");

        try
        {
            var inputs = text is not null ? [text] : ReadInputs(inPath!); // bad input fails before the tokenizer loads
            var tokenizer = ModelTokenizer.Load(model);
            // Tokenize everything first, so a bad line leaves no half-written output file.
            var lines = inputs.Select(t => FormatLine(t, tokenizer.Encode(t, allowSpecial: parseSpecial))).ToList();
            if (outPath is null)
                foreach (var line in lines) output.WriteLine(line);
            else
                File.WriteAllLines(outPath, lines, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or TokenizerNotFoundException or BadInputException or IOException or UnauthorizedAccessException)
        {
            return Fail(error, e.Message, exitCode: 1);
        }
    }

    /// <summary>The "text" of each non-blank line of a JSON-lines file.</summary>
    private static List<string> ReadInputs(string path)
    {
        var texts = new List<string>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object
                    || !doc.RootElement.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
                    throw new BadInputException($"{path}:{number}: expected an object with a string \"text\"");
                texts.Add(value.GetString()!);
            }
            catch (JsonException e)
            {
                throw new BadInputException($"{path}:{number}: not valid JSON: {e.Message}");
            }
            catch (InvalidOperationException e)
            {
                throw new BadInputException($"{path}:{number}: \"text\" is not valid Unicode: {e.Message}");
            }
        }
        return texts;
    }

    private static string FormatLine(string text, int[] ids)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, LineOptions))
        {
            json.WriteStartObject();
            json.WriteString("text", text);
            json.WriteStartArray("ids");
            foreach (var id in ids) json.WriteNumberValue(id);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static int Fail(TextWriter error, string message, int exitCode = 2)
    {
        error.WriteLine($"minicpm tokenize: {message}");
        if (exitCode == 2) error.WriteLine(Usage);
        return exitCode;
    }
}
