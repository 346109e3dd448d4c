using MiniCPM.Engine.Configuration;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Configuration;

public class GgufConfigReaderTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A qwen2 file with the real MiniCPM-V 2.6 sizes in its metadata and a tiny embedding table stand-in.</summary>
    private GgufFile WriteQwen2(Dictionary<string, GgufValue>? replace = null, bool withOutput = true, long vocab = 151666)
    {
        var keys = new List<(string, GgufValue)>
        {
            ("general.architecture", GgufValue.FromString("qwen2")),
            ("qwen2.block_count", GgufValue.FromUInt32(28)),
            ("qwen2.context_length", GgufValue.FromUInt32(32768)),
            ("qwen2.embedding_length", GgufValue.FromUInt32(3584)),
            ("qwen2.feed_forward_length", GgufValue.FromUInt32(18944)),
            ("qwen2.attention.head_count", GgufValue.FromUInt32(28)),
            ("qwen2.attention.head_count_kv", GgufValue.FromUInt32(4)),
            ("qwen2.rope.freq_base", GgufValue.FromFloat32(1_000_000f)),
            ("qwen2.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(1e-6f)),
            ("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32(151645)),
        };
        var writer = new GgufWriter();
        foreach (var (key, value) in keys)
        {
            if (replace is not null && replace.TryGetValue(key, out var replacement)) { if (replacement is not null) writer.AddMetadata(key, replacement); }
            else writer.AddMetadata(key, value);
        }
        // The vocabulary size comes from the embedding rows; one Q4_0 block per row keeps the file small.
        writer.AddTensor("token_embd.weight", TensorType.Q4_0, [vocab, 32], new byte[vocab * 18]);
        if (withOutput) writer.AddTensor("output.weight", TensorType.Q4_0, [vocab, 32], new byte[vocab * 18]);
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".gguf");
        writer.WriteTo(path);
        return GgufFile.Open(path);
    }

    [Fact]
    public void ReadsTheRealMiniCPMV26TextModelKeys()
    {
        using var file = WriteQwen2();
        var config = GgufConfigReader.Read(file);
        Assert.Equal(ModelFamily.Qwen2, config.Family);
        var llm = config.Llm!;
        Assert.Equal((3584, 28, 28, 4, 128, 18944, 151666, 32768), (llm.HiddenSize, llm.Layers, llm.Heads, llm.KvHeads, llm.HeadDim, llm.IntermediateSize, llm.VocabSize, llm.MaxPositions));
        Assert.Equal(1e6, llm.RopeTheta);
        Assert.Equal(1e-6f, (float)llm.RmsNormEps);
        Assert.False(llm.TieWordEmbeddings);
        Assert.Equal(151645, llm.EosTokenId);
        Assert.Null(config.Vision);
    }

    [Fact]
    public void MissingOutputTensorMeansTiedEmbeddings()
    {
        using var file = WriteQwen2(withOutput: false);
        Assert.True(GgufConfigReader.Read(file).Llm!.TieWordEmbeddings);
    }

    [Fact]
    public void MissingKeyIsNamed()
    {
        using var file = WriteQwen2(replace: new() { ["qwen2.block_count"] = null! });
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains("'qwen2.block_count' is missing", e.Message);
    }

    [Fact]
    public void MistypedKeyIsNamed()
    {
        using var file = WriteQwen2(replace: new() { ["qwen2.attention.head_count"] = GgufValue.FromString("28") });
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains("qwen2.attention.head_count", e.Message);
    }

    [Fact]
    public void InconsistentHeadsAreRejected()
    {
        using var file = WriteQwen2(replace: new() { ["qwen2.attention.head_count_kv"] = GgufValue.FromUInt32(5) });
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains("num_key_value_heads 5 must divide", e.Message);
    }

    [Fact]
    public void OutOfRangeValueIsRejected()
    {
        using var file = WriteQwen2(replace: new() { ["qwen2.block_count"] = GgufValue.FromUInt64(1UL << 40) });
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains("qwen2.block_count", e.Message);
    }

    [Fact]
    public void UnsupportedArchitectureIsRejected()
    {
        using var file = WriteQwen2(replace: new() { ["general.architecture"] = GgufValue.FromString("llama") });
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains("architecture 'llama' is not supported", e.Message);
    }

    [Theory]
    [InlineData(2, "minicpmv_version 2 is not MiniCPM-V 2.6")]
    [InlineData(5, "minicpmv_version 5 is not MiniCPM-V 2.6")]
    public void OtherMiniCPMVVersionsAreRejected(int version, string expected)
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("clip"));
        writer.AddMetadata("clip.projector_type", GgufValue.FromString("resampler"));
        writer.AddMetadata("clip.minicpmv_version", GgufValue.FromInt32(version));
        var path = Path.Combine(_dir, "mmproj.gguf");
        writer.WriteTo(path);
        using var file = GgufFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => GgufConfigReader.Read(file));
        Assert.Contains(expected, e.Message);
    }
}
