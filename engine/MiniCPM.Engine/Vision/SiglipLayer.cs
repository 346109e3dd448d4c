using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// One pre-LN SigLIP encoder layer (reference doc §3.3) over the N patch rows of one slice:
/// <code>
/// a = LN1(x);  q, k, v = a·Wqᵀ + bq, a·Wkᵀ + bk, a·Wvᵀ + bv
/// x += (softmax(q·kᵀ / √d) · v)·Woᵀ + bo        (per head; every patch sees every patch of its slice)
/// x += fc2(gelu_tanh(fc1(LN2(x))))
/// </code>
/// </summary>
internal sealed class SiglipLayer
{
    private readonly float[] _norm1Weight, _norm1Bias, _norm2Weight, _norm2Bias;
    private readonly Linear _query, _key, _value, _output, _fc1, _fc2;
    private readonly VisionConfig _config;

    private SiglipLayer(VisionConfig config, TowerWeights w, int layer)
    {
        _config = config;
        int hidden = config.HiddenSize, ffn = config.IntermediateSize;
        string N(string part) => WeightNames.Vision(layer, part);
        _norm1Weight = w.Vector(N("ln1.weight"), hidden);
        _norm1Bias = w.Vector(N("ln1.bias"), hidden);
        _norm2Weight = w.Vector(N("ln2.weight"), hidden);
        _norm2Bias = w.Vector(N("ln2.bias"), hidden);
        _query = w.Linear(N("attn_q.weight"), N("attn_q.bias"), hidden, hidden);
        _key = w.Linear(N("attn_k.weight"), N("attn_k.bias"), hidden, hidden);
        _value = w.Linear(N("attn_v.weight"), N("attn_v.bias"), hidden, hidden);
        _output = w.Linear(N("attn_out.weight"), N("attn_out.bias"), hidden, hidden);
        // Engine names: ffn_up is HF fc1 (hidden → intermediate), ffn_down is fc2.
        _fc1 = w.Linear(N("ffn_up.weight"), N("ffn_up.bias"), ffn, hidden);
        _fc2 = w.Linear(N("ffn_down.weight"), N("ffn_down.bias"), hidden, ffn);
    }

    public static SiglipLayer Load(VisionConfig config, TowerWeights weights, int layer) => new(config, weights, layer);

    /// <summary>Updates the residual stream <paramref name="x"/> [rows, hidden] in place.</summary>
    public void Apply(float[] x, int rows, SiglipScratch s, CpuThreadPool? pool)
    {
        int hidden = _config.HiddenSize, n = rows * hidden;
        float eps = (float)_config.LayerNormEps;

        LayerNorm.ApplyRows(x, rows, _norm1Weight, _norm1Bias, eps, s.Normed, pool);
        _query.Apply(s.Normed, rows, s.Query, pool);
        _key.Apply(s.Normed, rows, s.Key, pool);
        _value.Apply(s.Normed, rows, s.Value, pool);
        PrefixAttention.Compute(s.Query.AsSpan(0, n), s.Key.AsSpan(0, n), s.Value.AsSpan(0, n), s.Attention.AsSpan(0, n),
            rows, rows, _config.Heads, _config.Heads, _config.HeadDim, 1f / MathF.Sqrt(_config.HeadDim), pool: pool);
        _output.Apply(s.Attention, rows, s.Normed, pool);
        Elementwise.Add(x.AsSpan(0, n), s.Normed.AsSpan(0, n), x.AsSpan(0, n));

        LayerNorm.ApplyRows(x, rows, _norm2Weight, _norm2Bias, eps, s.Normed, pool);
        _fc1.Apply(s.Normed, rows, s.Widened, pool);
        Activations.GeluTanh(s.Widened.AsSpan(0, rows * _config.IntermediateSize), s.Widened);
        _fc2.Apply(s.Widened, rows, s.Normed, pool);
        Elementwise.Add(x.AsSpan(0, n), s.Normed.AsSpan(0, n), x.AsSpan(0, n));
    }
}
