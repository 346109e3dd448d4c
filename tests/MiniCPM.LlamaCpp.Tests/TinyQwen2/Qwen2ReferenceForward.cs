namespace MiniCPM.LlamaCpp.Tests.TinyQwen2;

/// <summary>
/// A plain float64 Qwen2 decoder (HF Qwen2ForCausalLM semantics), written for clarity, not speed: embedding,
/// then per layer RMSNorm → q/k/v with bias → NeoX (rotate-half) RoPE → grouped-query causal attention → o_proj
/// → residual, RMSNorm → SwiGLU MLP → residual; then the final RMSNorm and the untied lm_head.
/// </summary>
internal sealed class Qwen2ReferenceForward(Qwen2Weights weights)
{
    private readonly Qwen2Hyperparameters _c = weights.Config;

    /// <summary>Logits at every position of <paramref name="tokens"/> (positions 0, 1, ...), each of vocabulary length.</summary>
    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        int hidden = _c.HiddenSize;
        var embedding = weights["token_embd.weight"];
        var x = tokens.Select(t => embedding.AsSpan(t * hidden, hidden).ToArray().Select(v => (double)v).ToArray()).ToArray();

        for (int layer = 0; layer < _c.LayerCount; layer++)
        {
            string p = $"blk.{layer}.";
            var q = new double[tokens.Count][];
            var k = new double[tokens.Count][];
            var v = new double[tokens.Count][];
            for (int t = 0; t < tokens.Count; t++)
            {
                var h = RmsNorm(x[t], weights[p + "attn_norm.weight"]);
                q[t] = Rope(Add(MatVec(weights[p + "attn_q.weight"], h), weights[p + "attn_q.bias"]), _c.HeadCount, t);
                k[t] = Rope(Add(MatVec(weights[p + "attn_k.weight"], h), weights[p + "attn_k.bias"]), _c.KvHeadCount, t);
                v[t] = Add(MatVec(weights[p + "attn_v.weight"], h), weights[p + "attn_v.bias"]);
            }
            for (int t = 0; t < tokens.Count; t++)
            {
                var attended = CausalAttention(q, k, v, t);
                x[t] = Add(x[t], MatVec(weights[p + "attn_output.weight"], attended));

                var h = RmsNorm(x[t], weights[p + "ffn_norm.weight"]);
                var gate = MatVec(weights[p + "ffn_gate.weight"], h);
                var up = MatVec(weights[p + "ffn_up.weight"], h);
                var product = gate.Select((g, i) => Silu(g) * up[i]).ToArray();
                x[t] = Add(x[t], MatVec(weights[p + "ffn_down.weight"], product));
            }
        }

        return x.Select(xt => MatVec(weights["output.weight"], RmsNorm(xt, weights["output_norm.weight"]))).ToArray();
    }

    /// <summary>Attention output of position <paramref name="t"/> over positions 0..t; query head i reads KV head i / (heads / kv heads).</summary>
    private double[] CausalAttention(double[][] q, double[][] k, double[][] v, int t)
    {
        int d = _c.HeadDim;
        int group = _c.HeadCount / _c.KvHeadCount;
        double scale = 1.0 / Math.Sqrt(d);
        var output = new double[_c.HiddenSize];
        var scores = new double[t + 1];
        for (int head = 0; head < _c.HeadCount; head++)
        {
            int kvHead = head / group;
            for (int s = 0; s <= t; s++)
            {
                double dot = 0;
                for (int i = 0; i < d; i++) dot += q[t][head * d + i] * k[s][kvHead * d + i];
                scores[s] = dot * scale;
            }
            double max = scores.Max();
            double sum = 0;
            for (int s = 0; s <= t; s++) sum += scores[s] = Math.Exp(scores[s] - max);
            for (int s = 0; s <= t; s++)
                for (int i = 0; i < d; i++) output[head * d + i] += scores[s] / sum * v[s][kvHead * d + i];
        }
        return output;
    }

    /// <summary>
    /// NeoX / rotate-half RoPE per head: element j pairs with j + d/2, rotated by pos · θ^(−2j/d).
    /// (The GPT-J / "normal" layout would pair 2j with 2j+1 instead.)
    /// </summary>
    private double[] Rope(double[] vector, int heads, int position)
    {
        int d = _c.HeadDim;
        int half = d / 2;
        var rotated = new double[vector.Length];
        for (int head = 0; head < heads; head++)
        {
            int o = head * d;
            for (int j = 0; j < half; j++)
            {
                double angle = position * Math.Pow(_c.RopeTheta, -2.0 * j / d);
                double x1 = vector[o + j], x2 = vector[o + j + half];
                rotated[o + j] = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                rotated[o + j + half] = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
            }
        }
        return rotated;
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        double meanSquare = x.Sum(v => v * v) / x.Length;
        double inverse = 1.0 / Math.Sqrt(meanSquare + _c.RmsNormEpsilon);
        return x.Select((v, i) => v * inverse * weight[i]).ToArray();
    }

    /// <summary>y = W·x for W stored row-major as [rows = out, columns = x.Length] (HF nn.Linear layout).</summary>
    private static double[] MatVec(float[] matrix, double[] x)
    {
        int rows = matrix.Length / x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            int row = r * x.Length;
            for (int i = 0; i < x.Length; i++) sum += matrix[row + i] * x[i];
            y[r] = sum;
        }
        return y;
    }

    private static double[] Add(double[] a, float[] b) => a.Select((v, i) => v + b[i]).ToArray();
    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();
    private static double Silu(double g) => g / (1 + Math.Exp(-g));
}
