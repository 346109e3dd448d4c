using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Tests.Weights;

public class HfWeightNamesTests
{
    [Theory]
    [InlineData("llm.model.embed_tokens.weight", "llm.token_embd.weight")]
    [InlineData("model.embed_tokens.weight", "llm.token_embd.weight")]
    [InlineData("llm.lm_head.weight", "llm.output.weight")]
    [InlineData("llm.model.norm.weight", "llm.output_norm.weight")]
    [InlineData("llm.model.layers.27.self_attn.k_proj.bias", "llm.blk.27.attn_k.bias")]
    [InlineData("llm.model.layers.3.self_attn.o_proj.weight", "llm.blk.3.attn_output.weight")]
    [InlineData("llm.model.layers.3.post_attention_layernorm.weight", "llm.blk.3.ffn_norm.weight")]
    [InlineData("vpm.encoder.layers.26.mlp.fc1.weight", "vision.blk.26.ffn_up.weight")]
    [InlineData("vpm.encoder.layers.0.mlp.fc2.bias", "vision.blk.0.ffn_down.bias")]
    [InlineData("vpm.encoder.layers.0.self_attn.out_proj.weight", "vision.blk.0.attn_out.weight")]
    [InlineData("vpm.embeddings.position_embedding.weight", "vision.position_embd.weight")]
    [InlineData("resampler.kv_proj.weight", "resampler.kv.weight")]
    [InlineData("apm.layers.1.self_attn_layer_norm.bias", "audio.blk.1.ln1.bias")]
    [InlineData("audio_projection_layer.linear2.weight", "audio_proj.linear2.weight")]
    [InlineData("llm.model.layers.0.self_attn.o_proj.bias", null)]
    [InlineData("vpm.head.probe", null)]
    public void TranslatesHfNames(string hfName, string? expected) => Assert.Equal(expected, HfWeightNames.Translate(hfName));

    [Theory]
    [InlineData("llm")]
    [InlineData("vision")]
    [InlineData("resampler")]
    [InlineData("multimodal")]
    [InlineData("audio")]
    public void EveryGoldenTensorMapsToAnEngineWeight(string caseName)
    {
        using var file = SafetensorsCheckpoint.OpenFolder(TestData.GoldenCase(caseName));
        var map = HfWeightNames.Map(file);
        Assert.Empty(map.Unmapped);
        Assert.Empty(map.Ignored);
    }

    [Fact]
    public void GoldenLlmHasEveryQwen2WeightWithItsShape()
    {
        var config = HfConfigReader.Read(Path.Combine(TestData.GoldenCase("llm"), "config.json"));
        using var file = SafetensorsCheckpoint.OpenFolder(TestData.GoldenCase("llm"));
        var map = HfWeightNames.Map(file);
        var llm = config.Llm!;
        long kvWidth = llm.KvHeads * llm.HeadDim;
        Assert.Equal([llm.VocabSize, llm.HiddenSize], map.Require(WeightNames.TokenEmbedding, "").Shape);
        Assert.Equal([llm.VocabSize, llm.HiddenSize], map.Require(WeightNames.Output, "").Shape);
        for (int i = 0; i < llm.Layers; i++)
        {
            Assert.Equal([kvWidth, llm.HiddenSize], map.Require(WeightNames.Llm(i, "attn_k.weight"), "").Shape);
            Assert.Equal([kvWidth], map.Require(WeightNames.Llm(i, "attn_v.bias"), "").Shape);
            Assert.Equal([llm.IntermediateSize, llm.HiddenSize], map.Require(WeightNames.Llm(i, "ffn_gate.weight"), "").Shape);
            Assert.Equal([llm.HiddenSize, llm.IntermediateSize], map.Require(WeightNames.Llm(i, "ffn_down.weight"), "").Shape);
        }
        Assert.Equal(3 + 12 * llm.Layers, map.Weights.Count);
    }

    [Fact]
    public void ResamplerInProjSplitsIntoThreeRowRangesAndProjIsTransposed()
    {
        using var file = SafetensorsCheckpoint.OpenFolder(TestData.GoldenCase("resampler"));
        var map = HfWeightNames.Map(file);
        var q = map.Require("resampler.attn_q.weight", "");
        var k = map.Require("resampler.attn_k.weight", "");
        var v = map.Require("resampler.attn_v.bias", "");
        Assert.Equal("resampler.attn.in_proj_weight", q.Tensor.Name);
        Assert.Equal((0L, 256L), (q.RowStart, q.RowCount));
        Assert.Equal((256L, 256L), (k.RowStart, k.RowCount));
        Assert.Equal((512L, 256L), (v.RowStart, v.RowCount));
        Assert.Equal([256L, 256L], q.Shape);
        var proj = map.Require("resampler.proj.weight", "");
        Assert.True(proj.Transposed);
        Assert.Equal("resampler.proj", proj.Tensor.Name);
    }
}
