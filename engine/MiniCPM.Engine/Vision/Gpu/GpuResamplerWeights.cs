using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// The resampler's weights in device memory, uploaded once in their file dtype (norms and biases as float32). The
/// learned queries are image-independent: LN_q(query)·W_qᵀ + b_q is computed on the device at load.
/// </summary>
internal sealed class GpuResamplerWeights : IDisposable
{
    public required FusedLinear Kv { get; init; }
    public required Buffer KvNormWeight { get; init; }
    public required Buffer KvNormBias { get; init; }
    public required FusedLinear Key { get; init; }
    public required FusedLinear Value { get; init; }
    public required FusedLinear Output { get; init; }
    public required Buffer PostNormWeight { get; init; }
    public required Buffer PostNormBias { get; init; }
    public required FusedLinear Projection { get; init; }
    /// <summary>[Queries, D]: the projected learned queries.</summary>
    public required Buffer Queries { get; init; }

    public long Bytes => AllLinears.Sum(l => l.WeightBytes);

    private IEnumerable<FusedLinear> AllLinears => [Kv, Key, Value, Output, Projection];

    public static GpuResamplerWeights Upload(GpuDevice device, Checkpoint checkpoint, ResamplerConfig resampler)
    {
        var w = new TowerWeights(checkpoint);
        int d = resampler.EmbedDim;
        var uploader = new GpuWeightUploader(device, w.SourcePath);
        Buffer Vector(string name, int length) => device.Upload<float>(w.Vector(name, length));
        FusedLinear Linear(string weight, string? bias, int rows, int cols) =>
            uploader.Linear([w.HostRows(weight, rows, cols)], bias is null ? null : [w.Vector(bias, rows)]);

        // The learned queries through ln_q and attn_q, once, on the device (attn_q is not kept).
        var queries = device.Upload<float>(w.Floats("resampler.query", resampler.Queries, d));
        var projected = device.Allocate<float>((long)resampler.Queries * d);
        using (var lnWeight = Vector("resampler.ln_q.weight", d))
        using (var lnBias = Vector("resampler.ln_q.bias", d))
        using (var attnQ = Linear("resampler.attn_q.weight", "resampler.attn_q.bias", d, d))
        {
            device.Kernels.LayerNorm(queries.View, resampler.Queries, lnWeight.View, lnBias.View, Resampler.Eps, queries.View);
            attnQ.Apply(device.Kernels, queries.View, resampler.Queries, projected.View);
            device.Synchronize();
        }
        queries.Dispose();

        return new GpuResamplerWeights
        {
            Kv = Linear("resampler.kv.weight", null, d, resampler.KvDim),
            KvNormWeight = Vector("resampler.ln_kv.weight", d),
            KvNormBias = Vector("resampler.ln_kv.bias", d),
            Key = Linear("resampler.attn_k.weight", "resampler.attn_k.bias", d, d),
            Value = Linear("resampler.attn_v.weight", "resampler.attn_v.bias", d, d),
            Output = Linear("resampler.attn_out.weight", "resampler.attn_out.bias", d, d),
            PostNormWeight = Vector("resampler.ln_post.weight", d),
            PostNormBias = Vector("resampler.ln_post.bias", d),
            Projection = Linear("resampler.proj.weight", null, d, d),
            Queries = projected,
        };
    }

    /// <summary>Random weights filled on the device (benchmarks): norm weights 1, biases 0, queries small random values.</summary>
    public static GpuResamplerWeights Random(GpuDevice device, ResamplerConfig resampler, RandomDeviceWeights random, uint seed)
    {
        int d = resampler.EmbedDim;
        var values = new Random((int)seed);
        var queries = new float[resampler.Queries * d];
        for (int i = 0; i < queries.Length; i++) queries[i] = (float)(values.NextDouble() - 0.5);
        return new GpuResamplerWeights
        {
            Kv = random.Linear(d, resampler.KvDim, bias: false),
            KvNormWeight = random.Filled(d, 1),
            KvNormBias = random.Filled(d, 0),
            Key = random.Linear(d, d),
            Value = random.Linear(d, d),
            Output = random.Linear(d, d),
            PostNormWeight = random.Filled(d, 1),
            PostNormBias = random.Filled(d, 0),
            Projection = random.Linear(d, d, bias: false),
            Queries = device.Upload<float>(queries),
        };
    }

    public void Dispose()
    {
        foreach (var linear in AllLinears) linear.Dispose();
        KvNormWeight.Dispose();
        KvNormBias.Dispose();
        PostNormWeight.Dispose();
        PostNormBias.Dispose();
        Queries.Dispose();
    }
}
