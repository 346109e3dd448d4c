using System.Text;
using System.Text.Json;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Cli;

public sealed class TokenizeCommandTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<(string Text, int[] Ids)> ParseLines(IEnumerable<string> lines) => lines
        .Where(l => l.Length > 0)
        .Select(l =>
        {
            using var doc = JsonDocument.Parse(l);
            return (doc.RootElement.GetProperty("text").GetString()!,
                    doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }).ToList();

    [Fact]
    public void JsonLinesRoundTripInOrderWithTheReferenceIds()
    {
        // The real vocabulary and llama.cpp's expected ids: an independent reference for the whole command.
        var cases = TokenizerTestData.VocabCases;
        var input = Path.Combine(_dir, "in.jsonl");
        var lines = cases.Select(c => JsonSerializer.Serialize(new { text = c.Text, other = 1 })).ToList();
        lines.Insert(3, ""); // blank lines are skipped
        File.WriteAllLines(input, lines, new UTF8Encoding(false));
        var outPath = Path.Combine(_dir, "out.jsonl");

        var (code, output, error) = CliRun.Run("tokenize", "--model", TokenizerTestData.TokenizerJsonGz, "--in", input, "--out", outPath);
        Assert.True(code == 0, error);
        Assert.Equal("", output);
        var results = ParseLines(File.ReadAllLines(outPath, Encoding.UTF8));
        Assert.Equal(cases.Count, results.Count);
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.Equal(cases[i].Text, results[i].Text);
            Assert.Equal(cases[i].Ids, results[i].Ids);
        }
    }

    [Fact]
    public void SpecialTokensAreParsedOnlyWhenAsked()
    {
        var gguf = Path.Combine(_dir, "tiny.gguf");
        SyntheticModel.WriteGguf(SyntheticModelSpec.Preset("tiny"), gguf, TensorType.F16);
        const string text = "<|im_start|>user\nHi<|im_end|>";

        var (code, output, error) = CliRun.Run("tokenize", "--model", gguf, "--text", text, "--parse-special");
        Assert.True(code == 0, error);
        var parsed = ParseLines(output.Split('\n')).Single();
        Assert.Equal(text, parsed.Text);
        Assert.Equal(4094, parsed.Ids[0]);
        Assert.Equal(4095, parsed.Ids[^1]);

        (code, output, _) = CliRun.Run("tokenize", "--model", gguf, "--text", text);
        Assert.Equal(0, code);
        var plain = ParseLines(output.Split('\n')).Single();
        Assert.All(plain.Ids, id => Assert.InRange(id, 0, 4092));
        Assert.True(plain.Ids.Length > parsed.Ids.Length);
    }

    [Fact]
    public void GgufHfFolderAndTokenizerJsonGiveTheSameLines()
    {
        var spec = SyntheticModelSpec.Preset("tiny");
        var gguf = Path.Combine(_dir, "tiny.gguf");
        SyntheticModel.WriteGguf(spec, gguf, TensorType.F16);
        var folder = Path.Combine(_dir, "tiny-hf");
        SyntheticModel.WriteHfFolder(spec, folder, TensorType.F16);
        var input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, ["{\"text\":\"Hello, world!\"}", "{\"text\":\"\"}", "{\"text\":\"naïve 東京 🚀\\n\\tend\"}"]);

        var outputs = new[] { gguf, folder, Path.Combine(folder, "tokenizer.json") }
            .Select(model => CliRun.Run("tokenize", "--model", model, "--in", input))
            .ToList();
        Assert.All(outputs, o => Assert.True(o.Code == 0, o.Error));
        Assert.Equal(outputs[0].Output, outputs[1].Output);
        Assert.Equal(outputs[0].Output, outputs[2].Output);
        var results = ParseLines(outputs[0].Output.Split('\n'));
        Assert.Equal(["Hello, world!", "", "naïve 東京 🚀\n\tend"], results.Select(r => r.Text));
        Assert.Empty(results[1].Ids);
    }

    [Theory]
    [InlineData("{\"text\": 5}", ":2: expected an object with a string \"text\"")]
    [InlineData("not json", ":2: not valid JSON")]
    public void BadInputLinesFailWithTheirLineNumberAndWriteNothing(string badLine, string message)
    {
        var input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, ["{\"text\":\"ok\"}", badLine]);
        var outPath = Path.Combine(_dir, "out.jsonl");
        var (code, _, error) = CliRun.Run("tokenize", "--model", TokenizerTestData.TokenizerJsonGz, "--in", input, "--out", outPath);
        Assert.Equal(1, code);
        Assert.Contains(message, error);
        Assert.False(File.Exists(outPath));
    }

    [Fact]
    public void UsageAndModelErrors()
    {
        Assert.Equal(2, CliRun.Run("tokenize", "--model", "x").Code);
        Assert.Equal(2, CliRun.Run("tokenize", "--text", "a").Code);
        Assert.Equal(2, CliRun.Run("tokenize", "--model", "x", "--text", "a", "--in", "b").Code);

        var bare = Path.Combine(_dir, "no-tokenizer");
        Directory.CreateDirectory(bare);
        var (code, _, error) = CliRun.Run("tokenize", "--model", bare, "--text", "a");
        Assert.Equal(1, code);
        Assert.Contains("no tokenizer.json", error);
        (code, _, error) = CliRun.Run("tokenize", "--model", Path.Combine(_dir, "missing.gguf"), "--text", "a");
        Assert.Equal(1, code);
        Assert.Contains("no such file", error);
    }
}
