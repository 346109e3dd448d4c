using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Tests.Models;
using MiniCPM.Engine.Weights;

namespace MiniCPM.Engine.Tests.Int4;

/// <summary>
/// Tiny HF int4 checkpoints (the golden llm case's weights written by <see cref="Int4CheckpointWriter"/> in the
/// MiniCPM-V-2_6-int4 and MiniCPM-o-2_6-int4 layouts) load through Checkpoint.Open and run on the fused int4
/// kernels; their logits must match a float64 evaluation of the same dequantized weights within 1e-3 × max|logit|.
/// </summary>
public sealed class Int4CheckpointTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Layouts() => ["nf4", "gptq-sym-g64", "gptq-asym-actorder-g32-v2"];

    internal static string Write(string layout, string folder)
    {
        using var source = Checkpoint.Open(TinyQwen2.WeightsPath);
        switch (layout)
        {
            case "nf4": Int4CheckpointWriter.WriteNf4(source, folder); break;
            case "gptq-sym-g64": Int4CheckpointWriter.WriteGptq(source, folder, new GptqWriteOptions { GroupSize = 64 }); break;
            case "gptq-asym-actorder-g32-v2":
                Int4CheckpointWriter.WriteGptq(source, folder, new GptqWriteOptions { GroupSize = 32, Symmetric = false, DescAct = true, ZeroMinusOne = false });
                break;
            default: throw new ArgumentException(layout);
        }
        return folder;
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void LinearsMapAsQuantizedFamiliesAndTheRestStaysFloat(string layout)
    {
        using var checkpoint = Checkpoint.Open(Write(layout, _dir));
        var q = checkpoint.Config.Quantization;
        Assert.NotNull(q);
        Assert.Equal(layout == "nf4" ? QuantizationMethod.Bitsandbytes : QuantizationMethod.Gptq, q.Method);
        Assert.Empty(checkpoint.Weights.Unmapped);
        foreach (var part in new[] { "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down" })
            for (int layer = 0; layer < 2; layer++)
            {
                var w = checkpoint.Weights.Require(WeightNames.Llm(layer, part + ".weight"), _dir);
                Assert.IsType(layout == "nf4" ? typeof(Nf4Linear) : typeof(GptqLinear), w.Quantized);
            }
        Assert.Null(checkpoint.Weights.Require(WeightNames.Output, _dir).Quantized);
        Assert.Null(checkpoint.Weights.Require(WeightNames.TokenEmbedding, _dir).Quantized);
        var down = checkpoint.Weights.Require(WeightNames.Llm(0, "ffn_down.weight"), _dir);
        Assert.Equal([256L, 512L], down.Shape);
        if (layout.StartsWith("gptq", StringComparison.Ordinal))
        {
            var gptq = (GptqLinear)down.Quantized!;
            Assert.Equal(layout.EndsWith("v2", StringComparison.Ordinal) ? 0 : 1, gptq.ZeroOffset);
            Assert.Equal(layout.Contains("g32") ? 16 : 8, gptq.Groups);
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void LogitsMatchFloat64EvaluationOfTheDequantizedWeights(string layout)
    {
        Write(layout, _dir);
        int[] prompt = TinyQwen2.Prompt1[..12];
        double[][] expected;
        using (var checkpoint = Checkpoint.Open(_dir)) expected = new Float64Qwen2(checkpoint).Logits(prompt);

        // Prefill of all but the last token on 2 threads (the multi-token kernels), then one decode step (matvec).
        float[] actual;
        using (var model = Qwen2Model.Load(_dir, new Qwen2Options { Threads = 2 }))
        {
            var sequence = model.CreateSequence();
            actual = TinyQwen2.Run(model, sequence, prompt[..^1]).Concat(TinyQwen2.Run(model, sequence, prompt[^1..])).ToArray();
        }
        int vocab = expected[0].Length;
        double maxDiff = 0, maxAbs = 0;
        for (int t = 0; t < prompt.Length; t++)
            for (int v = 0; v < vocab; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(actual[t * vocab + v] - expected[t][v]));
                maxAbs = Math.Max(maxAbs, Math.Abs(expected[t][v]));
            }
        Assert.True(maxAbs > 1);
        Assert.InRange(maxDiff / maxAbs, 0, 1e-3); // measured 2.1e-7 (NF4), 5.5e-7 (GPTQ act-order): float32 rounding only
    }
}
