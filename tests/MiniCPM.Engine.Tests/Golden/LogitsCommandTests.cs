using System.Text.Json;
using MiniCPM.Engine.Tests.Cli;
using MiniCPM.Engine.Golden;

namespace MiniCPM.Engine.Tests.Golden;

/// <summary>`minicpm logits`: JSON logits at every position, matching the golden reference for the same tokens.</summary>
public class LogitsCommandTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WritesTheGoldenLogitsForTheGoldenPrompt()
    {
        using var golden = GoldenCase.Open(TestData.GoldenCase("llm"));
        int[] ids = golden.ReadInts("input_ids");
        float[] expected = golden.ReadFloats("logits");
        string outFile = Path.Combine(_dir, "logits.json");

        var (code, _, error) = CliRun.Run("logits", "--model", Path.Combine(TestData.GoldenCase("llm"), "model.safetensors"),
            "--tokens", string.Join(",", ids), "--out", outFile, "--threads", "1");
        Assert.True(code == 0, error);

        using var json = JsonDocument.Parse(File.ReadAllBytes(outFile));
        Assert.Equal(ids, json.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()));
        var rows = json.RootElement.GetProperty("logits").EnumerateArray().ToArray();
        Assert.Equal(ids.Length, rows.Length);
        int vocab = expected.Length / ids.Length;
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r].EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(vocab, row.Length);
            for (int v = 0; v < vocab; v++)
            {
                float e = expected[r * vocab + v];
                Assert.True(Math.Abs(row[v] - e) <= 2e-3 + 1e-3 * Math.Abs(e), $"row {r}, logit {v}: {row[v]} vs {e}");
            }
        }
    }

    [Fact]
    public void BadArgumentsAndBadTokensGiveClearErrors()
    {
        string model = Path.Combine(TestData.GoldenCase("llm"), "model.safetensors");
        var (code, _, error) = CliRun.Run("logits", "--model", model, "--tokens", "1,99999");
        Assert.Equal(1, code);
        Assert.Contains("token id 99999", error);

        (code, _, error) = CliRun.Run("logits", "--model", model, "--prompt", "hello");
        Assert.Equal(1, code);
        Assert.Contains("tokenizer.json", error);

        (code, _, error) = CliRun.Run("logits", "--model", model, "--tokens", "1,x");
        Assert.Equal(1, code);
        Assert.Contains("'x'", error);

        (code, _, _) = CliRun.Run("logits", "--model", model);
        Assert.Equal(2, code);
    }

    [Fact]
    public void PrintsJsonToStandardOutputWithoutOut()
    {
        var (code, output, error) = CliRun.Run("logits", "--model", Path.Combine(TestData.GoldenCase("llm"), "model.safetensors"), "--tokens", "3,4", "--threads", "1");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(2, json.RootElement.GetProperty("logits").GetArrayLength());
        Assert.Equal(2048, json.RootElement.GetProperty("logits")[0].GetArrayLength());
    }
}
