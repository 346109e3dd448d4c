using MiniCPM.Engine.ModelFiles;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Cli;

public sealed class MakeModelCommandTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("f32", TensorType.F32)]
    [InlineData("f16", TensorType.F16)]
    [InlineData("bf16", TensorType.BF16)]
    public void WritesTheTinyPresetAsAGgufTheEngineOpens(string dtype, TensorType type)
    {
        var path = Path.Combine(_dir, "sub", $"tiny-{dtype}.gguf");
        var (code, output, error) = CliRun.Run("make-model", "--preset", "tiny", "--dtype", dtype, "--out", path, "--seed", "42");
        Assert.True(code == 0, error);
        Assert.Contains($"wrote {path}", output);
        using var checkpoint = Checkpoint.Open(path);
        Assert.Equal(CheckpointFormat.Gguf, checkpoint.Format);
        Assert.Equal(64, checkpoint.Config.Llm!.HiddenSize);
        Assert.Equal(type, checkpoint.Weights.Require("llm.blk.0.ffn_up.weight", path).Tensor.Type);
        Assert.Equal(4096, ModelTokenizer.Load(path).VocabularySize);
    }

    [Fact]
    public void WritesAnHfFolderWhenTheOutputIsNotAGgufName()
    {
        var folder = Path.Combine(_dir, "tiny-hf");
        var (code, _, error) = CliRun.Run("make-model", "--preset", "tiny", "--dtype", "bf16", "--out", folder);
        Assert.True(code == 0, error);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
            Directory.GetFiles(folder).Select(f => Path.GetFileName(f)).Order().ToArray());
        using var checkpoint = Checkpoint.Open(folder);
        Assert.Equal(CheckpointFormat.HfFolder, checkpoint.Format);
        Assert.Equal(Engine.Configuration.ModelFamily.MiniCPMV26, checkpoint.Config.Family);
        Assert.Null(checkpoint.Config.Vision); // text model only
    }

    [Fact]
    public void DryRunSizesTheBigPresetsWithoutWriting()
    {
        var path = Path.Combine(_dir, "7b.gguf");
        var (code, output, error) = CliRun.Run("make-model", "--preset", "qwen2-7b-shape", "--dtype", "f16", "--out", path, "--dry-run");
        Assert.True(code == 0, error);
        Assert.Contains("hidden 3584, layers 28, heads 28 (kv 4), ffn 18944, vocab 151666, lm_head untied", output);
        Assert.Contains("339 tensors, 7612763648 parameters, 14.18 GiB of weights", output);
        Assert.False(File.Exists(path));

        (code, output, _) = CliRun.Run("make-model", "--preset", "qwen2-0.5b-shape", "--dtype", "f32", "--out", path, "--dry-run");
        Assert.Equal(0, code);
        Assert.Contains("hidden 896, layers 24, heads 14 (kv 2), ffn 4864, vocab 32000, lm_head tied", output);
        Assert.Contains("386570112 parameters", output);
    }

    [Theory]
    [InlineData("unknown preset 'huge'", "--preset", "huge", "--dtype", "f16", "--out", "x.gguf")]
    [InlineData("unknown --dtype 'q7_0'", "--preset", "tiny", "--dtype", "q7_0", "--out", "x.gguf")]
    [InlineData("--seed must be a non-negative integer", "--preset", "tiny", "--dtype", "f16", "--out", "x.gguf", "--seed", "-1")]
    [InlineData("are required", "--preset", "tiny", "--dtype", "f16")]
    [InlineData("unexpected argument '--bogus'", "--bogus")]
    public void BadArgumentsAreUsageErrors(string message, params string[] args)
    {
        var (code, _, error) = CliRun.Run(["make-model", .. args]);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
        Assert.Contains("presets: tiny, qwen2-0.5b-shape, qwen2-7b-shape", error);
    }
}
