using MiniCPM.Engine.Models;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// <see cref="Resampler"/> on a GPU — one slice's features F (h·w rows) become the LLM's input rows:
/// <code>
/// kv = LN_kv(F·W_kvᵀ)
/// K = (kv + pos(h, w))·W_kᵀ + b_k;  V = kv·W_vᵀ + b_v;  O = attention(Q, K, V)     Q: projected at load
/// rows = LN_post(O·W_outᵀ + b_out)·proj
/// </code>
/// <see cref="GpuVisionTower"/> feeds it the encoder's features on the device; alone (a checkpoint holding only the
/// resampler, e.g. the golden `resampler` case) <see cref="Apply"/> uploads them. One caller at a time.
/// </summary>
public sealed class GpuResampler : IDisposable
{
    private readonly GpuDevice _device;
    private readonly GpuResamplerWeights _weights;
    private Scratch? _scratch;
    private Buffer? _axis;
    /// <summary>Features uploaded by <see cref="Apply"/> (the tower passes the encoder's on the device instead).</summary>
    private Buffer? _input;
    private int _axisPositions;
    private bool _disposed;

    private GpuResampler(GpuDevice device, ResamplerConfig config, Func<GpuResamplerWeights> weights)
    {
        if (config.EmbedDim % 128 != 0)
            throw new GpuUnavailableException(device.Name, $"resampler width {config.EmbedDim} is not a multiple of 128; use --device cpu");
        _device = device;
        Config = config;
        _weights = weights();
    }

    /// <summary>Uploads the resampler of an opened checkpoint to an open device (neither is owned; the weights are
    /// copied, so the checkpoint may close).</summary>
    /// <exception cref="NoVisionTowerException">The checkpoint has no resampler.</exception>
    /// <exception cref="GpuUnavailableException">Weights or a shape the GPU kernels cannot take.</exception>
    public static GpuResampler Load(Checkpoint checkpoint, GpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(device);
        var config = TowerWeights.RequireResampler(checkpoint);
        return new GpuResampler(device, config, () => GpuResamplerWeights.Upload(device, checkpoint, config));
    }

    internal static GpuResampler Random(GpuDevice device, ResamplerConfig config, RandomDeviceWeights random, uint seed) =>
        new(device, config, () => GpuResamplerWeights.Random(device, config, random, seed));

    public ResamplerConfig Config { get; }

    /// <summary>Device bytes of the weight matrices.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>
    /// The <see cref="ResamplerConfig.Queries"/> × <see cref="ResamplerConfig.EmbedDim"/> rows (row-major) of one
    /// slice whose features are <paramref name="rows"/> × <paramref name="columns"/> patches of width KvDim.
    /// </summary>
    /// <exception cref="VisionInputException">An empty grid, or features of the wrong length.</exception>
    public float[] Apply(ReadOnlySpan<float> features, int rows, int columns)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (rows < 1 || columns < 1) throw new VisionInputException($"resampler grid {rows}×{columns} must have at least one patch");
        long patches = (long)rows * columns;
        if (features.Length != patches * Config.KvDim)
            throw new VisionInputException($"resampler input has {features.Length} values; a {rows}×{columns} grid of width {Config.KvDim} needs {patches * Config.KvDim}");
        var input = _input;
        if (input is null || input.Length < features.Length)
        {
            int length = features.Length;
            input = DeviceAllocation.Replace(ref _input, _device, "the resampler's input", DeviceAllocation.EncoderAdvice,
                () => _device.Allocate<float>(length));
        }
        ((ArrayView<float>)input.View).SubView(0, features.Length).CopyFromCPU(features);
        var output = ApplyOnDevice(input.View, rows, columns);
        var result = new float[Config.Queries * Config.EmbedDim];
        output.SubView(0, result.Length).CopyToCPU(result.AsSpan());
        return result;
    }

    /// <summary>The slice's output rows on the device (valid until the next call) from features on the device.</summary>
    internal ArrayView<float> ApplyOnDevice(ArrayView<float> features, int rows, int columns)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var k = _device.Kernels;
        var w = _weights;
        int n = rows * columns, d = Config.EmbedDim, queries = Config.Queries;
        var s = EnsureScratch(n);
        var axis = EnsureAxis(Math.Max(rows, columns));

        w.Kv.Apply(k, features, n, s.Kv.View);
        k.LayerNorm(s.Kv.View, n, w.KvNormWeight.View, w.KvNormBias.View, Resampler.Eps, s.Kv.View);
        k.AddGridPositions(s.Kv.View, rows, columns, axis.View, d, s.KeyInput.View);
        w.Key.Apply(k, s.KeyInput.View, n, s.Keys.View);
        w.Value.Apply(k, s.Kv.View, n, s.Values.View);
        k.DenseAttention(new DenseAttentionArgs
        {
            Query = w.Queries.View, Key = s.Keys.View, Value = s.Values.View, Output = s.QueryRows.View,
            QueryStride = d, KeyStride = d, ValueStride = d, OutputStride = d,
            Queries = queries, Keys = n, Heads = Config.Heads, HeadDim = Config.HeadDim, Scale = 1f / MathF.Sqrt(Config.HeadDim),
        });
        w.Output.Apply(k, s.QueryRows.View, queries, s.Output.View);
        k.LayerNorm(s.Output.View, queries, w.PostNormWeight.View, w.PostNormBias.View, Resampler.Eps, s.Output.View);
        w.Projection.Apply(k, s.Output.View, queries, s.QueryRows.View);
        return s.QueryRows.View;
    }

    private Buffer EnsureAxis(int positions)
    {
        if (_axis is not null && _axisPositions >= positions) return _axis;
        // The one-axis embedding of position q is the first half of cell (0, q) of the CPU table.
        int d = Config.EmbedDim, half = d / 2;
        var table = new float[(long)positions * half];
        var cell = new float[d];
        for (int q = 0; q < positions; q++)
        {
            SinCosPositionTable.Cell(0, q, cell);
            cell.AsSpan(0, half).CopyTo(table.AsSpan(q * half));
        }
        var axis = DeviceAllocation.Replace(ref _axis, _device, $"the resampler's position table for {positions} positions",
            DeviceAllocation.EncoderAdvice, () => _device.Upload<float>(table));
        _axisPositions = positions;
        return axis;
    }

    private Scratch EnsureScratch(int patches)
    {
        if (_scratch is not null && _scratch.Patches >= patches) return _scratch;
        return DeviceAllocation.Replace(ref _scratch, _device, $"the resampler's working buffers for {patches} patches",
            DeviceAllocation.EncoderAdvice, () => new Scratch(_device, patches, Config));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _scratch?.Dispose();
        _axis?.Dispose();
        _input?.Dispose();
        _weights.Dispose();
    }

    /// <summary>Device activations for slices of up to <see cref="Patches"/> patches.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(GpuDevice device, int patches, ResamplerConfig r)
        {
            Patches = patches;
            long n = patches, d = r.EmbedDim;
            Kv = device.Allocate<float>(n * d);
            KeyInput = device.Allocate<float>(n * d);
            Keys = device.Allocate<float>(n * d);
            Values = device.Allocate<float>(n * d);
            QueryRows = device.Allocate<float>(r.Queries * d);
            Output = device.Allocate<float>(r.Queries * d);
        }

        public int Patches { get; }
        public Buffer Kv { get; }
        public Buffer KeyInput { get; }
        public Buffer Keys { get; }
        public Buffer Values { get; }
        public Buffer QueryRows { get; }
        public Buffer Output { get; }

        public void Dispose()
        {
            foreach (var b in new[] { Kv, KeyInput, Keys, Values, QueryRows, Output }) b.Dispose();
        }
    }
}
