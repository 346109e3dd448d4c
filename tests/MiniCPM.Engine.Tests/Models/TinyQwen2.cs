using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>The golden `llm` case's tiny Qwen2 (vocab 2048, hidden 256, 2 layers, GQA 4/2) and its two prompts.</summary>
internal static class TinyQwen2
{
    public static string WeightsPath => Path.Combine(TestData.GoldenCase("llm"), "model.safetensors");

    public static Qwen2Model Load(int threads = 1, int kvTokens = 256) =>
        Qwen2Model.Load(WeightsPath, new Qwen2Options { Threads = threads, KvCacheTokens = kvTokens });

    public static int[] Prompt1 => Read("input_ids");
    public static int[] Prompt2 => Read("input_ids_2");

    private static int[] Read(string name)
    {
        using var golden = GoldenCase.Open(TestData.GoldenCase("llm"));
        return golden.ReadInts(name);
    }

    /// <summary>Runs one request and returns its logits (every row when <paramref name="all"/>).</summary>
    public static float[] Run(ILanguageModel model, SequenceId sequence, int[] tokens, bool all = true)
    {
        var request = new ForwardRequest { Sequence = sequence, Tokens = tokens, AllLogits = all };
        model.Forward([request]);
        return request.Logits!.AsSpan(0, (all ? tokens.Length : 1) * model.VocabularySize).ToArray();
    }

    /// <summary>Largest |a − b| relative to the largest |b| (logits are O(10), so this is the natural scale).</summary>
    public static double RelativeDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < a.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)a[i] - b[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs((double)b[i]));
        }
        Assert.True(maxAbs > 0);
        return maxDiff / maxAbs;
    }

    /// <summary>
    /// max |Δlogit| / max |logit| between a model on quantized weights (prefill of all but the last prompt token on
    /// 2 threads — the token-block matmul — then one decode step, the matvec path) and a model on an F32 file of the
    /// same weights' dequantized values (1 thread, one prefill). Only the kernels' summation orders differ.
    /// </summary>
    public static double QuantizedVersusDequantized(string quantizedPath, string dequantizedPath,
        ActivationPrecision activations = ActivationPrecision.Float32)
    {
        float[] expected, actual;
        using (var model = Qwen2Model.Load(dequantizedPath, new Qwen2Options { Threads = 1 }))
            expected = Run(model, model.CreateSequence(), Prompt1);
        using (var model = Qwen2Model.Load(quantizedPath, new Qwen2Options { Threads = 2, Activations = activations }))
        {
            var sequence = model.CreateSequence();
            actual = Run(model, sequence, Prompt1[..^1]).Concat(Run(model, sequence, Prompt1[^1..])).ToArray();
        }
        return RelativeDifference(actual, expected);
    }
}
