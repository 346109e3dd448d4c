using System.Globalization;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.LlamaCpp.Tests.TinyQwen2;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>llama.cpp opens the qwen2 GGUF files that the project's GgufWriter writes, in every weight type.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LlamaCppLoadTests(TinyQwen2Files files)
{
    public static TheoryData<TensorType> WeightTypes => new(TinyQwen2Files.WeightTypes);

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Llama_cpp_reports_the_written_sizes(TensorType weightType)
    {
        var weights = files.ModelOf(weightType).Weights;
        var c = files.Weights.Config;

        Assert.Equal(files.Vocabulary.Count, weights.Vocab.Count);
        Assert.Equal(c.HiddenSize, weights.EmbeddingSize);
        Assert.Equal(c.LayerCount, weights.NativeHandle.LayerCount);
        Assert.Equal(c.HeadCount, weights.NativeHandle.HeadCount);
        Assert.Equal(c.KvHeadCount, weights.NativeHandle.KVHeadCount);
        Assert.Equal(c.ContextLength, weights.ContextSize);
        Assert.Equal(files.Weights.ElementCount, (long)weights.ParameterCount);
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Llama_cpp_reads_back_the_written_metadata(TensorType weightType)
    {
        var read = files.ModelOf(weightType).Weights.Metadata;
        var written = TinyQwen2Gguf.Metadata(files.Weights.Config, files.Vocabulary, weightType);

        // llama.cpp's metadata table holds the scalar keys only; the arrays (tokens, types, merges) are checked
        // through the vocabulary it builds from them (LlamaCppVocabularyTests).
        var scalars = written.Where(kv => kv.Value.Type != GgufValueType.Array).ToList();
        Assert.Equal(scalars.Select(kv => kv.Key).Order(), read.Keys.Order());
        foreach (var (key, value) in scalars)
        {
            string text = read[key];
            switch (value.Type)
            {
                case GgufValueType.String:
                    Assert.Equal(value.AsString(), text);
                    break;
                case GgufValueType.UInt32:
                    Assert.Equal(value.AsUInt64(), ulong.Parse(text, CultureInfo.InvariantCulture));
                    break;
                case GgufValueType.Float32:
                    // llama.cpp prints floats with std::to_string (6 decimals), so compare to that precision.
                    Assert.Equal(value.AsDouble(), double.Parse(text, CultureInfo.InvariantCulture), 1e-6);
                    break;
                case GgufValueType.Bool:
                    Assert.Equal(value.AsBool() ? "true" : "false", text);
                    break;
                default:
                    Assert.Fail($"{key}: no readback check for {value.Type}");
                    break;
            }
        }
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void A_short_decode_gives_finite_logits_over_the_whole_vocabulary(TensorType weightType)
    {
        var v = files.Vocabulary;
        var logits = files.ModelOf(weightType).DecodeLogits([v.ImStartId, v.IdOf("Ġthe"), v.IdOf("a")], [v.ImEndId]);

        Assert.Equal(4, logits.Length);
        foreach (var row in logits)
        {
            Assert.Equal(v.Count, row.Length);
            Assert.All(row, x => Assert.True(float.IsFinite(x)));
            Assert.True(row.Max() - row.Min() > 0.1f, "logits are (nearly) constant: the weights did not reach the output");
        }
    }
}
