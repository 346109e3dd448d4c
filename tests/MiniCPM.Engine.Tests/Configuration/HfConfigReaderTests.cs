using System.Text;
using MiniCPM.Engine.Configuration;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Configuration;

public class HfConfigReaderTests
{
    [Fact]
    public void GoldenLlmConfigReadsTheTinyQwen2Sizes()
    {
        var config = HfConfigReader.Read(Path.Combine(TestData.GoldenCase("llm"), "config.json"));
        Assert.Equal(ModelFamily.MiniCPMV26, config.Family);
        var llm = config.Llm!;
        Assert.Equal((256, 2, 4, 2, 64, 512, 2048), (llm.HiddenSize, llm.Layers, llm.Heads, llm.KvHeads, llm.HeadDim, llm.IntermediateSize, llm.VocabSize));
        Assert.Equal(1e6, llm.RopeTheta);
        Assert.Equal(1e-6, llm.RmsNormEps);
        Assert.False(llm.TieWordEmbeddings);
        Assert.Equal(2, llm.GroupSize);
    }

    [Fact]
    public void GoldenVisionConfigKeepsEveryLayerAndTheSeventyByTable()
    {
        var config = HfConfigReader.Read(Path.Combine(TestData.GoldenCase("vision"), "config.json"));
        var vision = config.Vision!;
        Assert.Equal((64, 128, 4, 2, 14), (vision.HiddenSize, vision.IntermediateSize, vision.Heads, vision.Layers, vision.PatchSize));
        Assert.Equal(70, vision.PositionGridSide);
        Assert.False(vision.DropLastLayer);
        Assert.Equal(2, vision.LayersUsed);
        Assert.Equal("gelu_pytorch_tanh", vision.Activation);
        var resampler = config.Resampler!;
        Assert.Equal((64, 256, 64, 2), (resampler.Queries, resampler.EmbedDim, resampler.KvDim, resampler.Heads));
        Assert.Equal((9, 448, true), (config.Slicing!.MaxSliceNums, config.Slicing.ScaleResolution, config.Slicing.UseImageId));
    }

    [Fact]
    public void GoldenAudioConfigIsMiniCPMOWithoutVision()
    {
        var config = HfConfigReader.Read(Path.Combine(TestData.GoldenCase("audio"), "config.json"));
        Assert.Equal(ModelFamily.MiniCPMO26, config.Family);
        Assert.Null(config.Vision);
        var audio = config.Audio!;
        Assert.Equal((64, 2, 4, 256, 80, 1500, 2), (audio.DModel, audio.Layers, audio.Heads, audio.FfnDim, audio.MelBins, audio.MaxSourcePositions, audio.PoolStep));
        Assert.Equal(1.0, audio.ChunkLengthSeconds);
        Assert.False(config.HasTts);
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void EveryGoldenConfigParsesWithoutProblems(string caseName)
    {
        var config = HfConfigReader.Read(Path.Combine(TestData.GoldenCase(caseName), "config.json"));
        Assert.Empty(config.Problems());
        Assert.NotNull(config.Llm);
    }

    public static TheoryData<string> GoldenCases() => new(TestData.GoldenCaseNames);

    [Fact]
    public void RealMiniCPMV26DefaultsApplyWhenSubConfigsAreAbsent()
    {
        const string json = """
            {"model_type":"minicpmv","version":2.6,"hidden_size":3584,"num_hidden_layers":28,"num_attention_heads":28,
             "num_key_value_heads":4,"intermediate_size":18944,"vocab_size":151666,"drop_vision_last_layer":false}
            """;
        var config = HfConfigReader.Parse(Encoding.UTF8.GetBytes(json), "config.json");
        Assert.Equal((1152, 4304, 16, 27, 27), (config.Vision!.HiddenSize, config.Vision.IntermediateSize, config.Vision.Heads, config.Vision.Layers, config.Vision.LayersUsed));
        Assert.Equal((28, 3584, 1152), (config.Resampler!.Heads, config.Resampler.EmbedDim, config.Resampler.KvDim));
        Assert.Equal(128, config.Llm!.HeadDim);
        Assert.Equal(7, config.Llm.GroupSize);
    }

    [Theory]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("{\"model_type\":\"llama\"}", "unsupported model_type 'llama'")]
    [InlineData("{\"model_type\":\"qwen2\",\"hidden_size\":256}", "'num_hidden_layers' is missing")]
    [InlineData("{\"model_type\":\"qwen2\",\"hidden_size\":\"big\"}", "'hidden_size' must be a 32-bit integer")]
    [InlineData("{\"model_type\":\"qwen2\",\"hidden_size\":1e30}", "'hidden_size' must be a 32-bit integer")]
    [InlineData("{\"model_type\":\"qwen2\",\"hidden_size\":250,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":8,\"vocab_size\":10}", "must divide hidden_size 250")]
    [InlineData("{\"model_type\":\"qwen2\",\"hidden_size\":256,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":3,\"intermediate_size\":8,\"vocab_size\":10}", "num_key_value_heads 3 must divide")]
    [InlineData("{\"model_type\":\"minicpmv\",\"version\":2.5,\"hidden_size\":256}", "version 2.5 is not supported")]
    [InlineData("{\"model_type\":", "not valid JSON")]
    public void BadConfigsGiveTypedErrorsNamingTheProblem(string json, string expected)
    {
        var error = Assert.Throws<ModelFormatException>(() => HfConfigReader.Parse(Encoding.UTF8.GetBytes(json), "config.json"));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void DeeplyNestedConfigIsRejectedNotOverflowed()
    {
        var json = "{\"model_type\":\"qwen2\",\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        var error = Assert.Throws<ModelFormatException>(() => HfConfigReader.Parse(Encoding.UTF8.GetBytes(json), "config.json"));
        Assert.Contains("not valid JSON", error.Message);
    }
}
