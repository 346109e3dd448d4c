using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Weights;

namespace MiniCPM.Engine.Synthetic;

/// <summary>One generated weight: its engine name, shape ([out, in] for matrices) and value distribution.</summary>
public sealed record SyntheticTensor(string EngineName, long[] Shape, float Mean, float Std, bool IsMatrix)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The weights of a synthetic Qwen2 model and their values. Scales keep activations of order one through the layers
/// and logits well spread: linear layers have std 1/√fan_in (unit-variance outputs for unit-RMS inputs); the
/// embedding and lm_head have std 3/√hidden, so after the final RMSNorm (weights ≈ 1) logits have std ≈ 3; norm weights
/// are 1 ± 0.05 and biases have std 0.1. Element i of tensor N under seed S is a pure function of (S, N, i).
/// </summary>
public static class SyntheticWeights
{
    /// <summary>The tensors of <paramref name="llm"/>, embedding first, in HF checkpoint order.</summary>
    public static IReadOnlyList<SyntheticTensor> List(LlmConfig llm)
    {
        long h = llm.HiddenSize, kv = (long)llm.KvHeads * llm.HeadDim, ffn = llm.IntermediateSize, vocab = llm.VocabSize;
        float outputStd = (float)(3 / Math.Sqrt(h));
        var list = new List<SyntheticTensor> { new(WeightNames.TokenEmbedding, [vocab, h], 0, outputStd, true) };
        for (int i = 0; i < llm.Layers; i++)
        {
            list.Add(Norm(WeightNames.Llm(i, "attn_norm.weight"), h));
            list.Add(Matrix(WeightNames.Llm(i, "attn_q.weight"), h, h));
            list.Add(Bias(WeightNames.Llm(i, "attn_q.bias"), h));
            list.Add(Matrix(WeightNames.Llm(i, "attn_k.weight"), kv, h));
            list.Add(Bias(WeightNames.Llm(i, "attn_k.bias"), kv));
            list.Add(Matrix(WeightNames.Llm(i, "attn_v.weight"), kv, h));
            list.Add(Bias(WeightNames.Llm(i, "attn_v.bias"), kv));
            list.Add(Matrix(WeightNames.Llm(i, "attn_output.weight"), h, h));
            list.Add(Norm(WeightNames.Llm(i, "ffn_norm.weight"), h));
            list.Add(Matrix(WeightNames.Llm(i, "ffn_gate.weight"), ffn, h));
            list.Add(Matrix(WeightNames.Llm(i, "ffn_up.weight"), ffn, h));
            list.Add(Matrix(WeightNames.Llm(i, "ffn_down.weight"), h, ffn));
        }
        list.Add(Norm(WeightNames.OutputNorm, h));
        if (!llm.TieWordEmbeddings) list.Add(new(WeightNames.Output, [vocab, h], 0, outputStd, true));
        return list;
    }

    /// <summary>Values of elements [firstElement, firstElement + destination.Length) of the row-major tensor.</summary>
    public static void Fill(SyntheticTensor tensor, ulong seed, long firstElement, Span<float> destination)
    {
        if (firstElement < 0 || firstElement + destination.Length > tensor.Elements)
            throw new ArgumentOutOfRangeException(nameof(firstElement), $"elements [{firstElement}, {firstElement + destination.Length}) outside '{tensor.EngineName}'");
        CounterNoise.Fill(CounterNoise.StreamKey(seed, tensor.EngineName), firstElement, destination, tensor.Mean, tensor.Std);
    }

    /// <summary>The tensor as rows generated on demand.</summary>
    internal static FloatRows Rows(SyntheticTensor tensor, ulong seed)
    {
        long rowElements = tensor.Elements / Math.Max(tensor.Shape[0], 1);
        return new FloatRows(tensor.Shape, (first, count, dst) =>
            Fill(tensor, seed, first * rowElements, dst[..checked((int)(count * rowElements))]));
    }

    private static SyntheticTensor Matrix(string name, long rows, long cols) => new(name, [rows, cols], 0, (float)(1 / Math.Sqrt(cols)), true);

    private static SyntheticTensor Norm(string name, long n) => new(name, [n], 1, 0.05f, false);

    private static SyntheticTensor Bias(string name, long n) => new(name, [n], 0, 0.1f, false);
}
