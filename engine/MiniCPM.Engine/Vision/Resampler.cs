using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// MiniCPM-V 2.6's perceiver resampler (reference doc §4): the learned queries attend once over a slice's vision
/// features and become the slice's LLM input rows.
/// <code>
/// x = LN_kv(F·W_kvᵀ)                                    F: [h·w, kv_dim]
/// Q = LN_q(query)·W_qᵀ + b_q                            (independent of the image: computed once at load)
/// K = (x + pos(h, w))·W_kᵀ + b_k;   V = x·W_vᵀ + b_v      pos: 2-D sin-cos, column half first
/// O = softmax(Q·Kᵀ / √128)·V  per head (D / 128 heads), then ·W_outᵀ + b_out
/// y = LN_post(O)·proj                                   (HF right-multiplies proj; the engine weight is projᵀ)
/// </code>
/// A slice's keys are its own h·w patches, so a padded HF batch with key_padding_mask gives the same rows.
/// </summary>
public sealed class Resampler
{
    private readonly Linear _kv, _key, _value, _output, _projection;
    private readonly float[] _kvNormWeight, _kvNormBias, _postNormWeight, _postNormBias;
    private readonly float[] _projectedQueries; // [Queries, D]

    private Resampler(ResamplerConfig config, TowerWeights w)
    {
        Config = config;
        int d = config.EmbedDim;
        _kv = w.Linear("resampler.kv.weight", null, d, config.KvDim);
        _key = w.Linear("resampler.attn_k.weight", "resampler.attn_k.bias", d, d);
        _value = w.Linear("resampler.attn_v.weight", "resampler.attn_v.bias", d, d);
        _output = w.Linear("resampler.attn_out.weight", "resampler.attn_out.bias", d, d);
        _projection = w.Linear("resampler.proj.weight", null, d, d);
        _kvNormWeight = w.Vector("resampler.ln_kv.weight", d);
        _kvNormBias = w.Vector("resampler.ln_kv.bias", d);
        _postNormWeight = w.Vector("resampler.ln_post.weight", d);
        _postNormBias = w.Vector("resampler.ln_post.bias", d);

        var queries = w.Floats("resampler.query", config.Queries, d);
        LayerNorm.ApplyRows(queries, config.Queries, w.Vector("resampler.ln_q.weight", d), w.Vector("resampler.ln_q.bias", d), Eps, queries);
        _projectedQueries = new float[config.Queries * d];
        w.Linear("resampler.attn_q.weight", "resampler.attn_q.bias", d, d).Apply(queries, config.Queries, _projectedQueries, null);
    }

    /// <summary>LayerNorm eps of ln_q / ln_kv / ln_post (1e-6 in MiniCPM-V's Resampler).</summary>
    public const float Eps = 1e-6f;

    /// <summary>
    /// Builds the resampler over an opened checkpoint (which must outlive it); <see cref="NoVisionTowerException"/> when
    /// the checkpoint has none.
    /// </summary>
    public static Resampler Load(Checkpoint checkpoint)
    {
        var config = TowerWeights.RequireResampler(checkpoint);
        return new Resampler(config, new TowerWeights(checkpoint));
    }

    public ResamplerConfig Config { get; }

    /// <summary>The key position embedding of an h × w grid, [h·w, D] row-major (patch r·w + c).</summary>
    public float[] PositionEmbedding(int rows, int columns) => SinCosPositionTable.Grid(rows, columns, Config.EmbedDim);

    /// <summary>
    /// The LLM input rows [Queries, D] of one slice from its vision features <paramref name="features"/>
    /// ([rows·columns, kv_dim], patch r·columns + c).
    /// </summary>
    public float[] Apply(ReadOnlySpan<float> features, int rows, int columns, CpuThreadPool? pool = null)
    {
        if (rows < 1 || columns < 1) throw new VisionInputException($"resampler grid {rows}×{columns} must have at least one patch");
        int patches = checked(rows * columns), d = Config.EmbedDim, queries = Config.Queries;
        if (features.Length != (long)patches * Config.KvDim)
            throw new VisionInputException($"resampler input has {features.Length} values; a {rows}×{columns} grid of width {Config.KvDim} needs {(long)patches * Config.KvDim}");

        var x = new float[checked(patches * d)];
        _kv.Apply(features, patches, x, pool);
        LayerNorm.ApplyRows(x, patches, _kvNormWeight, _kvNormBias, Eps, x, pool);

        var keyInput = PositionEmbedding(rows, columns);
        Elementwise.Add(keyInput, x, keyInput);
        var keys = new float[patches * d];
        _key.Apply(keyInput, patches, keys, pool);
        var values = keyInput; // reuse: the key input is no longer needed
        _value.Apply(x, patches, values, pool);

        var attention = new float[queries * d];
        PrefixAttention.Compute(_projectedQueries, keys, values, attention, queries, patches,
            Config.Heads, Config.Heads, Config.HeadDim, 1f / MathF.Sqrt(Config.HeadDim), pool: pool);
        var output = new float[queries * d];
        _output.Apply(attention, queries, output, pool);
        LayerNorm.ApplyRows(output, queries, _postNormWeight, _postNormBias, Eps, output, pool);
        _projection.Apply(output, queries, attention, pool);
        return attention;
    }
}
