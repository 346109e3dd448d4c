using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Synthetic;

/// <summary>Synthetic models: the files open as the configured model, are deterministic, and stream chunk by chunk.</summary>
public sealed class SyntheticModelTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SyntheticModelSpec Tiny => SyntheticModelSpec.Preset("tiny");

    [Theory]
    [InlineData(TensorType.F32, SyntheticModelFormat.Gguf)]
    [InlineData(TensorType.F16, SyntheticModelFormat.Gguf)]
    [InlineData(TensorType.BF16, SyntheticModelFormat.Gguf)]
    [InlineData(TensorType.F32, SyntheticModelFormat.HfFolder)]
    [InlineData(TensorType.F16, SyntheticModelFormat.HfFolder)]
    [InlineData(TensorType.BF16, SyntheticModelFormat.HfFolder)]
    public void TinyPresetOpensWithItsConfigAndEveryWeightInTheRealShape(TensorType type, SyntheticModelFormat format)
    {
        var path = Write(Tiny, type, format, seed: 3);
        using var checkpoint = Checkpoint.Open(path);
        var llm = checkpoint.Config.Llm!;
        Assert.Equal((64, 2, 4, 2, 128, 4096), (llm.HiddenSize, llm.Layers, llm.Heads, llm.KvHeads, llm.IntermediateSize, llm.VocabSize));
        Assert.False(llm.TieWordEmbeddings);
        Assert.Equal((4093, 4095), (llm.BosTokenId, llm.EosTokenId)); // <|endoftext|>, <|im_end|> remapped to the top ids
        Assert.Equal(1e6, llm.RopeTheta);
        Assert.Equal(1e-6f, (float)llm.RmsNormEps); // GGUF stores it as f32

        // Every Qwen2 weight is there under its engine name in [out, in] shape; nothing else.
        var expected = new Dictionary<string, long[]>
        {
            [WeightNames.TokenEmbedding] = [4096, 64],
            [WeightNames.OutputNorm] = [64],
            [WeightNames.Output] = [4096, 64],
        };
        for (int i = 0; i < 2; i++)
        {
            expected[WeightNames.Llm(i, "attn_norm.weight")] = [64];
            expected[WeightNames.Llm(i, "ffn_norm.weight")] = [64];
            expected[WeightNames.Llm(i, "attn_q.weight")] = [64, 64];
            expected[WeightNames.Llm(i, "attn_q.bias")] = [64];
            expected[WeightNames.Llm(i, "attn_k.weight")] = [32, 64]; // 2 KV heads × head_dim 16
            expected[WeightNames.Llm(i, "attn_k.bias")] = [32];
            expected[WeightNames.Llm(i, "attn_v.weight")] = [32, 64];
            expected[WeightNames.Llm(i, "attn_v.bias")] = [32];
            expected[WeightNames.Llm(i, "attn_output.weight")] = [64, 64];
            expected[WeightNames.Llm(i, "ffn_gate.weight")] = [128, 64];
            expected[WeightNames.Llm(i, "ffn_up.weight")] = [128, 64];
            expected[WeightNames.Llm(i, "ffn_down.weight")] = [64, 128];
        }
        var map = checkpoint.Weights;
        Assert.Empty(map.Unmapped);
        Assert.Equal(expected.Keys.Order(), map.Weights.Select(w => w.InternalName).Order());
        foreach (var (name, shape) in expected)
        {
            var w = map.Require(name, path);
            Assert.Equal(shape, w.Shape);
            bool matrix = shape.Length == 2;
            // GGUF keeps norms and biases in F32 as llama.cpp's converter does; an HF folder stores everything in the dtype.
            Assert.Equal(format == SyntheticModelFormat.Gguf && !matrix ? TensorType.F32 : type, w.Tensor.Type);
        }
    }

    [Fact]
    public void PlanListsExactlyTheTensorsThatAreWritten()
    {
        foreach (var format in new[] { SyntheticModelFormat.Gguf, SyntheticModelFormat.HfFolder })
        {
            var plan = SyntheticModel.Plan(Tiny, TensorType.F16, format);
            using var checkpoint = Checkpoint.Open(Write(Tiny, TensorType.F16, format, seed: 0));
            var written = checkpoint.Tensors.Tensors;
            Assert.Equal(plan.Select(p => (p.Name, string.Join(",", p.Shape), p.Type, p.Bytes)),
                written.Select(t => (t.Name, string.Join(",", t.Shape), t.Type, t.ByteLength)));
        }
    }

    [Fact]
    public void BigPresetsHaveTheRealShapesAndSizes()
    {
        var small = SyntheticModelSpec.Preset("qwen2-0.5b-shape").Llm;
        Assert.Equal((896, 24, 14, 2, 4864, 32000, 64), (small.HiddenSize, small.Layers, small.Heads, small.KvHeads, small.IntermediateSize, small.VocabSize, small.HeadDim));
        Assert.True(small.TieWordEmbeddings);
        Assert.Equal((31997, 31999), (small.BosTokenId, small.EosTokenId));

        var big = SyntheticModelSpec.Preset("qwen2-7b-shape").Llm;
        Assert.Equal((3584, 28, 28, 4, 18944, 151666, 128), (big.HiddenSize, big.Layers, big.Heads, big.KvHeads, big.IntermediateSize, big.VocabSize, big.HeadDim));
        Assert.False(big.TieWordEmbeddings);
        Assert.Equal((151643, 151645), (big.BosTokenId, big.EosTokenId)); // the real Qwen2 ids

        // Hand count for Qwen2-7B: per layer q,o 3584² + k,v 512·3584 + 3 MLP 18944·3584; vectors 2 norms + 3 biases.
        long layerMatrix = 2L * 3584 * 3584 + 2L * 512 * 3584 + 3L * 18944 * 3584;
        long layerVector = 2L * 3584 + 3584 + 512 + 512;
        long embedding = 151666L * 3584;
        var plan7b = SyntheticModel.Plan(SyntheticModelSpec.Preset("qwen2-7b-shape"), TensorType.F16, SyntheticModelFormat.Gguf);
        Assert.Equal(1 + 28 * 12 + 1 + 1, plan7b.Count);
        Assert.Equal(2 * embedding + 28 * layerMatrix + 28 * layerVector + 3584, plan7b.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(7_612_763_648, plan7b.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b))); // MiniCPM-V 2.6's 7.6B LLM
        Assert.Equal(2 * (2 * embedding + 28 * layerMatrix) + 4 * (28 * layerVector + 3584), plan7b.Sum(t => t.Bytes));

        var plan05 = SyntheticModel.Plan(SyntheticModelSpec.Preset("qwen2-0.5b-shape"), TensorType.F16, SyntheticModelFormat.Gguf);
        Assert.DoesNotContain(plan05, t => t.Name == "output.weight");
        Assert.Equal([32000, 896], plan05.Single(t => t.Name == "token_embd.weight").Shape);
        Assert.Equal([128, 896], plan05.Single(t => t.Name == "blk.23.attn_k.weight").Shape);
        Assert.Equal([896, 4864], plan05.Single(t => t.Name == "blk.0.ffn_down.weight").Shape);
    }

    [Theory]
    [InlineData(SyntheticModelFormat.Gguf)]
    [InlineData(SyntheticModelFormat.HfFolder)]
    public void SameSeedGivesIdenticalBytesAndAnotherSeedOtherWeights(SyntheticModelFormat format)
    {
        var a = Files(Write(Tiny, TensorType.BF16, format, seed: 11, name: "a"));
        var b = Files(Write(Tiny, TensorType.BF16, format, seed: 11, name: "b"));
        var c = Files(Write(Tiny, TensorType.BF16, format, seed: 12, name: "c"));
        Assert.Equal(a.Keys, b.Keys);
        foreach (var key in a.Keys) Assert.True(a[key].SequenceEqual(b[key]), $"{key} differs between two runs with the same seed");
        var weightsFile = format == SyntheticModelFormat.Gguf ? "model.gguf" : "model.safetensors";
        Assert.Equal(a[weightsFile].Length, c[weightsFile].Length);
        Assert.False(a[weightsFile].SequenceEqual(c[weightsFile]));
    }

    [Fact]
    public void GgufAndHfFolderHoldTheSameValues()
    {
        using var gguf = Checkpoint.Open(Write(Tiny, TensorType.F32, SyntheticModelFormat.Gguf, seed: 5));
        using var hf = Checkpoint.Open(Write(Tiny, TensorType.F32, SyntheticModelFormat.HfFolder, seed: 5));
        Assert.Equal(27, gguf.Weights.Weights.Count);
        foreach (var source in gguf.Weights.Weights)
            Assert.Equal(WeightReader.ReadAll(gguf.Tensors, source), WeightReader.ReadAll(hf.Tensors, hf.Weights.Require(source.InternalName, "hf")));
    }

    [Fact]
    public void AChunkMadeOnItsOwnEqualsTheSameRegionOfTheWholeTensor()
    {
        var spec = SyntheticModelSpec.Preset("qwen2-0.5b-shape");
        var gate = SyntheticWeights.List(spec.Llm).Single(t => t.EngineName == WeightNames.Llm(7, "ffn_gate.weight"));
        var whole = new float[gate.Elements];
        SyntheticWeights.Fill(gate, 9, 0, whole); // large: filled in parallel blocks
        foreach (var (start, length) in new[] { (0L, 1), (12_345L, 1000), (whole.Length - 70_000L, 70_000), (896L * 100, 896 * 3) })
        {
            var chunk = new float[length];
            SyntheticWeights.Fill(gate, 9, start, chunk);
            Assert.Equal(whole.AsSpan((int)start, length).ToArray(), chunk);
        }
        // And the file holds exactly those values (F32), read back through the engine's own reader.
        var tiny = SyntheticWeights.List(Tiny.Llm).Single(t => t.EngineName == WeightNames.Llm(1, "ffn_down.weight"));
        using var checkpoint = Checkpoint.Open(Write(Tiny, TensorType.F32, SyntheticModelFormat.Gguf, seed: 9));
        var rows = new float[3 * 128];
        WeightReader.ReadRows(checkpoint.Tensors, checkpoint.Weights.Require(tiny.EngineName, "gguf"), 20, 3, rows);
        var expected = new float[3 * 128];
        SyntheticWeights.Fill(tiny, 9, 20 * 128, expected);
        Assert.Equal(expected, rows);
    }

    [Fact]
    public void ValuesHaveTheDocumentedScales()
    {
        var spec = SyntheticModelSpec.Preset("qwen2-0.5b-shape");
        var tensors = SyntheticWeights.List(spec.Llm).ToDictionary(t => t.EngineName);

        var (mean, std, maxAbs) = Stats(tensors[WeightNames.Llm(0, "ffn_gate.weight")], seed: 1); // 4.4 M values
        Assert.InRange(mean, -1e-3, 1e-3);
        Assert.InRange(std, 0.99 / Math.Sqrt(896), 1.01 / Math.Sqrt(896));
        Assert.True(maxAbs <= Math.Sqrt(6) / Math.Sqrt(896) + 1e-6, "a triangular variable is bounded by √6 σ");

        var norm = Stats(tensors[WeightNames.Llm(3, "attn_norm.weight")], seed: 1);
        Assert.InRange(norm.Mean, 0.99, 1.01);
        Assert.InRange(norm.MaxAbs, 1.0, 1 + Math.Sqrt(6) * 0.05 + 1e-6);

        // Logits = lm_head · h for a unit-RMS hidden state h: standard deviation ≈ 3 (spread, not flat).
        var embedding = tensors[WeightNames.TokenEmbedding];
        var table = new float[embedding.Elements];
        SyntheticWeights.Fill(embedding, 1, 0, table);
        var h = Enumerable.Range(0, 896).Select(i => Math.Sin(i * 0.7) * Math.Sqrt(2)).ToArray();
        var logits = Enumerable.Range(0, 32000).Select(v => Enumerable.Range(0, 896).Sum(j => table[v * 896L + j] * h[j])).ToArray();
        double logitStd = Math.Sqrt(logits.Sum(x => x * x) / logits.Length);
        Assert.InRange(logitStd, 2.7, 3.3);
    }

    [Fact]
    public void RefusesQuantizedTypesAndUnknownPresets()
    {
        Assert.Throws<NotSupportedException>(() => SyntheticModel.WriteGguf(Tiny, Path.Combine(_dir, "q.gguf"), TensorType.Q8_0));
        Assert.False(File.Exists(Path.Combine(_dir, "q.gguf")));
        var e = Assert.Throws<ArgumentException>(() => SyntheticModelSpec.Preset("huge"));
        Assert.Contains("tiny, qwen2-0.5b-shape, qwen2-7b-shape", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticModelSpec.Create("x", 64, 1, 4, 2, 128, vocab: 258, tieEmbeddings: true));
    }

    private static (double Mean, double Std, double MaxAbs) Stats(SyntheticTensor tensor, ulong seed)
    {
        var values = new float[tensor.Elements];
        SyntheticWeights.Fill(tensor, seed, 0, values);
        double mean = values.Average(v => (double)v);
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
        return (mean, std, values.Max(v => Math.Abs((double)v)));
    }

    private string Write(SyntheticModelSpec spec, TensorType type, SyntheticModelFormat format, ulong seed, string name = "model")
    {
        var path = Path.Combine(_dir, $"{name}-{type}-{seed}" + (format == SyntheticModelFormat.Gguf ? ".gguf" : ""));
        if (format == SyntheticModelFormat.Gguf) SyntheticModel.WriteGguf(spec, path, type, seed);
        else SyntheticModel.WriteHfFolder(spec, path, type, seed);
        return path;
    }

    private static Dictionary<string, byte[]> Files(string path) => Directory.Exists(path)
        ? Directory.GetFiles(path).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes)
        : new Dictionary<string, byte[]> { ["model.gguf"] = File.ReadAllBytes(path) };
}
