using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;

namespace MiniCPM.Engine.Tests.Int4;

/// <summary>
/// A plain float64 Qwen2 decoder over a checkpoint's weights as <see cref="WeightReader.ReadAll"/> gives them (for an
/// int4 checkpoint: the reference dequantizers' values), written for clarity: embedding; per layer RMSNorm → q/k/v
/// with bias → NeoX RoPE → causal grouped-query attention → o_proj → residual, RMSNorm → SwiGLU → residual; final
/// RMSNorm and lm_head. Independent of the engine's kernels, caches and float32 arithmetic.
/// </summary>
internal sealed class Float64Qwen2(Checkpoint checkpoint)
{
    private readonly LlmConfig _c = checkpoint.Config.Llm!;
    private readonly Dictionary<string, double[]> _weights = new();

    private double[] W(string name)
    {
        if (!_weights.TryGetValue(name, out var values))
            _weights[name] = values = WeightReader.ReadAll(checkpoint.Tensors, checkpoint.Weights.Require(name, checkpoint.SourcePath)).Select(v => (double)v).ToArray();
        return values;
    }

    public double[][] Logits(int[] tokens)
    {
        int hidden = _c.HiddenSize, n = tokens.Length;
        var embedding = W(WeightNames.TokenEmbedding);
        var x = tokens.Select(t => embedding.AsSpan(t * hidden, hidden).ToArray()).ToArray();
        for (int layer = 0; layer < _c.Layers; layer++)
        {
            string L(string part) => WeightNames.Llm(layer, part);
            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (int t = 0; t < n; t++)
            {
                var h = RmsNorm(x[t], W(L("attn_norm.weight")));
                q[t] = Rope(Add(MatVec(W(L("attn_q.weight")), h), W(L("attn_q.bias"))), _c.Heads, t);
                k[t] = Rope(Add(MatVec(W(L("attn_k.weight")), h), W(L("attn_k.bias"))), _c.KvHeads, t);
                v[t] = Add(MatVec(W(L("attn_v.weight")), h), W(L("attn_v.bias")));
            }
            for (int t = 0; t < n; t++)
            {
                x[t] = Add(x[t], MatVec(W(L("attn_output.weight")), Attention(q, k, v, t)));
                var h = RmsNorm(x[t], W(L("ffn_norm.weight")));
                var gate = MatVec(W(L("ffn_gate.weight")), h);
                var up = MatVec(W(L("ffn_up.weight")), h);
                x[t] = Add(x[t], MatVec(W(L("ffn_down.weight")), gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray()));
            }
        }
        var head = _c.TieWordEmbeddings ? W(WeightNames.TokenEmbedding) : W(WeightNames.Output);
        return x.Select(xt => MatVec(head, RmsNorm(xt, W(WeightNames.OutputNorm)))).ToArray();
    }

    private double[] Attention(double[][] q, double[][] k, double[][] v, int t)
    {
        int d = _c.HeadDim, group = _c.Heads / _c.KvHeads;
        var output = new double[_c.HiddenSize];
        var scores = new double[t + 1];
        for (int head = 0; head < _c.Heads; head++)
        {
            int kv = head / group;
            for (int s = 0; s <= t; s++)
            {
                double dot = 0;
                for (int i = 0; i < d; i++) dot += q[t][head * d + i] * k[s][kv * d + i];
                scores[s] = dot / Math.Sqrt(d);
            }
            double max = scores.Max(), sum = 0;
            for (int s = 0; s <= t; s++) sum += scores[s] = Math.Exp(scores[s] - max);
            for (int s = 0; s <= t; s++)
                for (int i = 0; i < d; i++) output[head * d + i] += scores[s] / sum * v[s][kv * d + i];
        }
        return output;
    }

    /// <summary>Rotate-half RoPE: element j pairs with j + d/2, angle pos · θ^(−2j/d).</summary>
    private double[] Rope(double[] vector, int heads, int position)
    {
        int d = _c.HeadDim, half = d / 2;
        var result = (double[])vector.Clone();
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
            {
                double angle = position * Math.Pow(_c.RopeTheta, -2.0 * j / d);
                double a = vector[h * d + j], b = vector[h * d + j + half];
                result[h * d + j] = a * Math.Cos(angle) - b * Math.Sin(angle);
                result[h * d + j + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
        return result;
    }

    private double[] RmsNorm(double[] x, double[] weight)
    {
        double mean = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(mean + _c.RmsNormEps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private static double[] MatVec(double[] w, double[] x)
    {
        int cols = x.Length, rows = w.Length / cols;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += w[r * cols + c] * x[c];
            y[r] = sum;
        }
        return y;
    }

    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();
}
