using MiniCPM.Engine.Models;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// <see cref="SiglipEncoder"/> on a GPU — the NaViT SigLIP encoder of one slice, every activation on the device:
/// <code>
/// x = unfold(X)·W_convᵀ + b + P[id]                     gather, then the conv matmul accumulating onto it
/// per layer:  x = GpuEncoderLayer(x) with gelu_tanh           pre-LN attention, then the MLP fc1 → GELU → fc2
/// F = LN_post(x)
/// </code>
/// <see cref="GpuVisionTower"/> hands F to the <see cref="GpuResampler"/> on the device; alone (a checkpoint holding
/// only the encoder, e.g. the golden `vision` case) <see cref="Encode"/> reads F back. One caller at a time.
/// </summary>
public sealed class GpuSiglipEncoder : IDisposable
{
    private readonly GpuDevice _device;
    private readonly GpuSiglipWeights _weights;
    private Scratch? _scratch;
    private bool _disposed;

    private GpuSiglipEncoder(GpuDevice device, VisionConfig config, Func<GpuSiglipWeights> weights)
    {
        GpuEncoderLayer.RequireShape(device, "vision hidden size", config.HiddenSize, config.Heads);
        _device = device;
        Config = config;
        _weights = weights();
    }

    /// <summary>Uploads the encoder of an opened checkpoint to an open device (neither is owned; the weights are
    /// copied, so the checkpoint may close).</summary>
    /// <exception cref="NoVisionTowerException">The checkpoint has no vision encoder.</exception>
    /// <exception cref="GpuUnavailableException">Weights or a shape the GPU kernels cannot take.</exception>
    public static GpuSiglipEncoder Load(Checkpoint checkpoint, GpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(device);
        var config = TowerWeights.RequireVision(checkpoint);
        return new GpuSiglipEncoder(device, config, () => GpuSiglipWeights.Upload(device, checkpoint, config));
    }

    internal static GpuSiglipEncoder Random(GpuDevice device, VisionConfig config, RandomDeviceWeights random) =>
        new(device, config, () => GpuSiglipWeights.Random(config, random));

    public VisionConfig Config { get; }

    /// <summary>Most patches one slice may have (the position table's grid, 70 × 70).</summary>
    public int MaxPatches => Config.PositionGridSide * Config.PositionGridSide;

    /// <summary>Device bytes of the weight matrices.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Checks a slice exactly as the CPU encoder does; throws <see cref="VisionInputException"/> naming the problem.</summary>
    public void Validate(VisionSlice slice)
    {
        ArgumentNullException.ThrowIfNull(slice);
        slice.Validate(Config.PatchSize, MaxPatches);
    }

    /// <summary>The encoder input (patch convolution + position embedding), [patches, hidden] row-major.</summary>
    public float[] Embed(VisionSlice slice) => ToHost(Run(slice, layers: false), slice);

    /// <summary>The encoder output after post_layernorm, [patches, hidden] row-major.</summary>
    public float[] Encode(VisionSlice slice) => ToHost(Run(slice, layers: true), slice);

    /// <summary>The slice's features on the device (valid until the next call).</summary>
    internal ArrayView<float> EncodeOnDevice(VisionSlice slice) => Run(slice, layers: true);

    private float[] ToHost(ArrayView<float> rows, VisionSlice slice)
    {
        var result = new float[(long)Patches(slice) * Config.HiddenSize];
        rows.SubView(0, result.Length).CopyToCPU(result.AsSpan());
        return result;
    }

    private int Patches(VisionSlice slice) => slice.PatchRows(Config.PatchSize) * slice.PatchColumns(Config.PatchSize);

    private ArrayView<float> Run(VisionSlice slice, bool layers)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Validate(slice);
        var v = Config;
        var k = _device.Kernels;
        var w = _weights;
        int p = v.PatchSize, rows = slice.PatchRows(p), columns = slice.PatchColumns(p), n = rows * columns;
        float eps = (float)v.LayerNormEps;
        var s = EnsureScratch(n);

        // Embedding: x = P[id] first, then the convolution (+ bias) accumulates onto it.
        s.Pixels.View.SubView(0, slice.Pixels.Length).CopyFromCPU(slice.Pixels);
        s.Ids.View.SubView(0, n).CopyFromCPU(NavitPositionIds.ForGrid(rows, columns, v.PositionGridSide));
        k.PatchUnfold(s.Pixels.View, slice.Height, slice.Width, p, s.Unfolded.View, w.PatchLength);
        k.Gather(w.PositionTable, s.Ids.View, n, s.X.View);
        w.PatchConvolution.Apply(k, s.Unfolded.View, n, s.X.View, accumulate: true);
        if (!layers) return s.X.View;

        var activations = new EncoderActivations(s.X.View, s.Normed.View, s.QueryKeyValue.View, s.Attention.View, s.Widened.View);
        foreach (var layer in w.Layers) layer.Forward(k, activations, n, v.Heads, v.HeadDim, eps, GeluForm.Tanh);
        k.LayerNorm(s.X.View, n, w.PostNormWeight.View, w.PostNormBias.View, eps, s.Normed.View);
        return s.Normed.View;
    }

    private Scratch EnsureScratch(int patches)
    {
        if (_scratch is not null && _scratch.Patches >= patches) return _scratch;
        return DeviceAllocation.Replace(ref _scratch, _device, $"the vision encoder's working buffers for {patches} patches",
            DeviceAllocation.EncoderAdvice, () => new Scratch(_device, patches, Config, _weights));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _scratch?.Dispose();
        _weights.Dispose();
    }

    /// <summary>Device activations for slices of up to <see cref="Patches"/> patches.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(GpuDevice device, int patches, VisionConfig v, GpuSiglipWeights w)
        {
            Patches = patches;
            long n = patches, hidden = v.HiddenSize;
            Pixels = device.Allocate<float>(3 * n * v.PatchSize * v.PatchSize);
            Ids = device.Allocate<int>(n);
            Unfolded = device.Allocate<float>(n * w.PatchLength);
            X = device.Allocate<float>(n * hidden);
            Normed = device.Allocate<float>(n * hidden);
            QueryKeyValue = device.Allocate<float>(n * 3 * hidden);
            Attention = device.Allocate<float>(n * hidden);
            Widened = device.Allocate<float>(n * w.Intermediate);
        }

        public int Patches { get; }
        public Buffer Pixels { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Ids { get; }
        public Buffer Unfolded { get; }
        public Buffer X { get; }
        public Buffer Normed { get; }
        public Buffer QueryKeyValue { get; }
        public Buffer Attention { get; }
        public Buffer Widened { get; }

        public void Dispose()
        {
            foreach (var b in new[] { Pixels, Unfolded, X, Normed, QueryKeyValue, Attention, Widened }) b.Dispose();
            Ids.Dispose();
        }
    }
}
