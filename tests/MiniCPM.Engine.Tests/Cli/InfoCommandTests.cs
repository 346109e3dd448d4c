using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Cli;

public class InfoCommandTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("llm", "MiniCPM-V 2.6", 27)]
    [InlineData("vision", "MiniCPM-V 2.6", 37)] // 3 embeddings + 2 layers × 16 + post-LN 2
    [InlineData("resampler", "MiniCPM-V 2.6", 13)]
    [InlineData("multimodal", "MiniCPM-V 2.6", 77)]
    [InlineData("audio", "MiniCPM-o 2.6", 41)]
    public void DescribesEveryGoldenCheckpoint(string caseName, string family, int tensors)
    {
        var (code, output, error) = CliRun.Run("info", TestData.GoldenCase(caseName));
        Assert.True(code == 0, error);
        Assert.Contains($"model:        {family}", output);
        Assert.Contains($"tensors:      {tensors},", output);
        Assert.Contains($"BF16   {tensors,6} tensors", output);
        Assert.Contains("0 not recognised", output);
    }

    [Fact]
    public void DescribesAGgufFileHoldingEveryTensorType()
    {
        var path = Path.Combine(_dir, "all-types.gguf");
        var types = Enum.GetValues<TensorType>().Where(t => GgmlTypeIds.ToGgmlId(t) is not null).ToArray();
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("qwen2"));
        var random = new Random(7);
        foreach (var type in types)
        {
            long[] shape = [3, type.BlockElements() * 2];
            var bytes = new byte[type.TensorBytes(shape)!.Value];
            random.NextBytes(bytes);
            writer.AddTensor($"t.{type}", type, shape, bytes);
        }
        writer.WriteTo(path);

        var (code, output, error) = CliRun.Run("info", path);
        Assert.True(code == 0, error);
        Assert.Contains("format:       GGUF v3", output);
        Assert.Contains($"tensors:      {types.Length},", output);
        foreach (var type in types)
            Assert.Contains($"  {type,-6}      1 tensors", output);
        // qwen2 metadata without its keys: the tensors are still described, the configuration is reported unusable.
        Assert.Contains("config:       not usable", output);
        Assert.Contains("qwen2.attention.head_count", output);
    }

    [Fact]
    public void DescribesAConvertedGgufPair()
    {
        var (code, _, error) = CliRun.Run("convert", TestData.GoldenCase("multimodal"), "--out", _dir, "--type", "q8_0");
        Assert.True(code == 0, error);
        var (textCode, text, _) = CliRun.Run("info", Path.Combine(_dir, "ggml-model-q8_0.gguf"));
        Assert.Equal(0, textCode);
        Assert.Contains("model:        Qwen2 language model", text);
        Assert.Contains("Q8_0       16 tensors", text); // token_embd, output and 2 × (q, k, v, o, gate, up, down)
        Assert.Contains("F32        11 tensors", text); // 2 × (2 norms + 3 biases) + output_norm
        var (projCode, proj, _) = CliRun.Run("info", Path.Combine(_dir, "mmproj-model-f16.gguf"));
        Assert.Equal(0, projCode);
        Assert.Contains("MiniCPM-V vision projector", proj);
        Assert.Contains("resampler.pos_embed_k", proj);
    }

    [Fact]
    public void ShardedFolderIsDescribedAsOneCheckpoint()
    {
        var folder = Path.Combine(_dir, "sharded");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TestData.GoldenCase("llm"), "config.json"), Path.Combine(folder, "config.json"));
        using (var single = Loaders.Safetensors.SafetensorsFile.Open(Path.Combine(TestData.GoldenCase("llm"), "model.safetensors")))
        {
            var writer = new Loaders.Safetensors.SafetensorsWriter();
            foreach (var t in single.Tensors) writer.AddTensor(t.Name, t.Type, t.Shape, single.GetData(t).AsSpan().ToArray());
            Loaders.Safetensors.SafetensorsShardWriter.Write(writer, folder, shardCount: 2);
        }
        var (code, output, error) = CliRun.Run("info", folder);
        Assert.True(code == 0, error);
        Assert.Contains("safetensors checkpoint in 2 shard(s)", output);
        Assert.Contains("tensors:      27,", output);
        Assert.Contains("27 mapped to engine names", output);
    }

    [Theory]
    [InlineData("GGUF\u0003\0\0\0", "tiny.gguf")]
    [InlineData("not a model", "notes.gguf")]
    [InlineData("\u0010\0\0\0\0\0\0\0{\"a\":", "broken.safetensors")]
    public void BadFilesGiveAClearErrorAndExitCodeOne(string content, string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        var (code, _, error) = CliRun.Run("info", path);
        Assert.Equal(1, code);
        Assert.StartsWith("minicpm info: " + name, error);
    }

    [Fact]
    public void MissingPathAndBadUsageAreReported()
    {
        Assert.Equal(1, CliRun.Run("info", Path.Combine(_dir, "nothing-here")).Code);
        Assert.Equal(2, CliRun.Run("info").Code);
        Assert.Equal(2, CliRun.Run("frobnicate").Code);
    }
}
