using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.ModelFiles;

/// <summary>Finding a model's tokenizer from its path, and the typed errors when there is none or it is not Qwen2's.</summary>
public sealed class ModelTokenizerTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SyntheticModelSpec Tiny => SyntheticModelSpec.Preset("tiny");

    [Fact]
    public void FindsTheTokenizerOfEachKindOfModelPath()
    {
        var gguf = Path.Combine(_dir, "tiny.gguf");
        SyntheticModel.WriteGguf(Tiny, gguf, TensorType.F16);
        var folder = Path.Combine(_dir, "tiny-hf");
        SyntheticModel.WriteHfFolder(Tiny, folder, TensorType.F16);
        const string text = "Hello <|im_start|> wörld 123";

        var fromGguf = ModelTokenizer.Load(gguf, out var l1);
        var fromFolder = ModelTokenizer.Load(folder, out var l2);
        var fromSafetensors = ModelTokenizer.Load(Path.Combine(folder, "model.safetensors"), out var l3);
        var fromJson = ModelTokenizer.Load(Path.Combine(folder, "tokenizer.json"), out var l4);
        var fromGz = ModelTokenizer.Load(TokenizerTestData.TokenizerJsonGz, out var l5);
        Assert.Equal(
            [TokenizerLocation.GgufMetadata, TokenizerLocation.HfFolder, TokenizerLocation.HfFolder, TokenizerLocation.TokenizerJson, TokenizerLocation.TokenizerJson],
            new[] { l1, l2, l3, l4, l5 });
        var expected = fromGguf.Encode(text);
        Assert.Contains(4094, expected); // <|im_start|> at its remapped id
        Assert.Equal(expected, fromFolder.Encode(text));
        Assert.Equal(expected, fromSafetensors.Encode(text));
        Assert.Equal(expected, fromJson.Encode(text));
        Assert.Equal(151644, fromGz.Specials.ImStart);
    }

    [Fact]
    public void AModelWithoutATokenizerIsATypedError()
    {
        var bare = Path.Combine(_dir, "bare.gguf");
        new GgufWriter().AddMetadata("general.architecture", GgufValue.FromString("qwen2")).WriteTo(bare);
        var e = Assert.Throws<TokenizerNotFoundException>(() => ModelTokenizer.Load(bare));
        Assert.Equal(bare, e.ModelPath);
        Assert.Contains("no tokenizer", e.Message);

        var folder = Directory.CreateDirectory(Path.Combine(_dir, "weights-only")).FullName;
        var safetensors = Path.Combine(folder, "model.safetensors");
        File.WriteAllBytes(safetensors, [0]);
        Assert.Throws<TokenizerNotFoundException>(() => ModelTokenizer.Load(folder));
        Assert.Throws<TokenizerNotFoundException>(() => ModelTokenizer.Load(safetensors));

        Assert.Throws<ModelFormatException>(() => ModelTokenizer.Load(Path.Combine(_dir, "missing.gguf")));
    }

    [Theory]
    [InlineData("tokenizer.ggml.model", "llama", "tokenizer model 'llama' is not supported")]
    [InlineData("tokenizer.ggml.pre", "llama-bpe", "pre-tokenizer 'llama-bpe' is not supported")]
    [InlineData("tokenizer.ggml.pre", null, "'tokenizer.ggml.pre' is missing")]
    [InlineData("tokenizer.ggml.merges", null, "'tokenizer.ggml.merges' is missing")]
    [InlineData("tokenizer.ggml.tokens", null, "'tokenizer.ggml.tokens' is missing")]
    public void GgufTokenizersOtherThanQwen2sAreRefused(string key, string? value, string message)
    {
        var path = Path.Combine(_dir, "t.gguf");
        WriteTokenizerGguf(path, key, value is null ? null : GgufValue.FromString(value));
        using var file = GgufFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => GgufTokenizerLoader.Load(file));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void MalformedTokenTypesAreRefused()
    {
        var path = Path.Combine(_dir, "t.gguf");
        WriteTokenizerGguf(path, "tokenizer.ggml.token_type", GgufValue.FromArray(new float[] { 1, 1, 1, 1 }));
        using (var file = GgufFile.Open(path))
            Assert.Contains("array of integers", Assert.Throws<ModelFormatException>(() => GgufTokenizerLoader.Load(file)).Message);

        WriteTokenizerGguf(path, "tokenizer.ggml.token_type", GgufValue.FromArray(new int[] { 1, 1 })); // 2 types for 4 tokens
        using (var file = GgufFile.Open(path))
            Assert.Throws<ModelFormatException>(() => GgufTokenizerLoader.Load(file));

        // Other integer element types are read as the values they hold.
        WriteTokenizerGguf(path, "tokenizer.ggml.token_type", GgufValue.FromArray(new byte[] { 1, 1, 1, 3 }));
        using (var file = GgufFile.Open(path))
            Assert.True(GgufTokenizerLoader.Load(file).IsSpecial(3));
    }

    /// <summary>A 4-token Qwen2-style tokenizer (a, b, ab, &lt;|im_end|&gt;) with <paramref name="key"/> replaced or removed.</summary>
    private static void WriteTokenizerGguf(string path, string key, GgufValue? replacement)
    {
        var entries = new List<KeyValuePair<string, GgufValue>>
        {
            new("tokenizer.ggml.model", GgufValue.FromString("gpt2")),
            new("tokenizer.ggml.pre", GgufValue.FromString("qwen2")),
            new("tokenizer.ggml.tokens", GgufValue.FromArray(new[] { "a", "b", "ab", "<|im_end|>" })),
            new("tokenizer.ggml.token_type", GgufValue.FromArray(new[] { 1, 1, 1, 3 })),
            new("tokenizer.ggml.merges", GgufValue.FromArray(new[] { "a b" })),
        };
        int index = entries.FindIndex(e => e.Key == key);
        if (index >= 0) entries.RemoveAt(index);
        if (replacement is not null) entries.Add(new(key, replacement));
        var writer = new GgufWriter();
        foreach (var (k, v) in entries) writer.AddMetadata(k, v);
        writer.WriteTo(path);
    }
}
