using MiniCPM.Engine.Models;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Audio.Gpu;

/// <summary>What one mel piece gave on the device, read back: H [frames, d], A [frames, width] (both empty unless
/// asked for) and the pooled LLM embeddings [tokens, width].</summary>
internal sealed record GpuAudioOutputs(float[] Hidden, float[] Projected, float[] Pooled, int EncoderFrames, int Tokens);

/// <summary>
/// <see cref="WhisperEncoder"/> and <see cref="AudioProjector"/> on a GPU — one mel piece of any length F to LLM
/// embeddings, every activation on the device:
/// <code>
/// x = gelu(unfold₁(mel)·W_conv1ᵀ + b₁)                   k3, pad 1             → [F, d]
/// x = gelu(unfold₂(x)·W_conv2ᵀ + b₂) + P[0 : C]          k3, stride 2, pad 1   → [C, d]
/// per layer:  x = GpuEncoderLayer(x) with exact GELU and the block-causal key chunk
/// H = LN(x);  A = relu(H·W₁ᵀ + b₁)·W₂ᵀ + b₂;  E = AvgPool1d(pool_step)(A)
/// </code>
/// Only the mel goes up and E (with H and A when asked) comes back. One caller at a time.
/// </summary>
public sealed class GpuWhisperEncoder : IDisposable
{
    private const int Taps = 3;
    private readonly GpuDevice _device;
    private readonly GpuWhisperWeights _weights;
    private Scratch? _scratch;
    private bool _disposed;

    private GpuWhisperEncoder(GpuDevice device, AudioConfig config, Func<GpuWhisperWeights> weights)
    {
        GpuEncoderLayer.RequireShape(device, "audio d_model", config.DModel, config.Heads);
        _device = device;
        Config = config;
        _weights = DeviceAllocation.Run(device, "the audio encoder", DeviceAllocation.EncoderAdvice, weights);
    }

    /// <summary>Uploads the audio encoder and projection of an opened MiniCPM-o checkpoint to an open device (neither is
    /// owned; the weights are copied, so the checkpoint may close).</summary>
    /// <exception cref="ModelFormatException">No audio encoder, or a tensor of the wrong shape (as the CPU loader says).</exception>
    /// <exception cref="GpuUnavailableException">Weights or a shape the GPU kernels cannot take.</exception>
    public static GpuWhisperEncoder Load(Checkpoint checkpoint, GpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(device);
        var config = WhisperWeights.RequireAudio(checkpoint);
        return new GpuWhisperEncoder(device, config, () => GpuWhisperWeights.Upload(device, checkpoint));
    }

    /// <summary>An encoder of <paramref name="config"/>'s shape projecting to <paramref name="width"/>, with random
    /// <paramref name="type"/> weights (F32, F16 or BF16) filled on the device: benchmarks at real shapes without a file.</summary>
    public static GpuWhisperEncoder Random(GpuDevice device, AudioConfig config, int width, TensorType type, uint seed = 1)
    {
        ArgumentNullException.ThrowIfNull(device);
        var random = new RandomDeviceWeights(device, type, seed);
        return new GpuWhisperEncoder(device, config, () => GpuWhisperWeights.Random(config, width, random));
    }

    public AudioConfig Config { get; }

    /// <summary>Width of the embeddings (the LLM hidden size).</summary>
    public int EmbeddingWidth => _weights.EmbeddingWidth;

    /// <summary>Device bytes of the weight matrices and the position table.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>The pooled embeddings [tokens, width] of a mel piece [MelBins, frames].</summary>
    /// <param name="chunkFrames">Block-causal chunk in encoder frames; ≤ 0 is full attention.</param>
    public float[] Embed(ReadOnlySpan<float> mel, int frames, int chunkFrames) => Run(mel, frames, chunkFrames, intermediates: false).Pooled;

    /// <summary>As <see cref="Embed"/>, with the encoder output H and the projection A before pooling read back too.</summary>
    internal GpuAudioOutputs Run(ReadOnlySpan<float> mel, int frames, int chunkFrames, bool intermediates)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var config = Config;
        int bins = config.MelBins, d = config.DModel, width = EmbeddingWidth;
        if (frames < 1 || mel.Length != (long)bins * frames)
            throw new ArgumentException($"mel must be [{bins}, frames ≥ 1]; {mel.Length} values for {frames} frames given");
        int c = WhisperEncoder.OutputFrames(frames);
        if (c > _weights.PositionRows)
            throw new ArgumentException($"{frames} mel frames give {c} encoder frames; the position table has {_weights.PositionRows} (pieces of at most 30 s)");

        var k = _device.Kernels;
        var w = _weights;
        var s = EnsureScratch(frames);
        float eps = (float)config.LayerNormEps;

        // Conv front end: the mel is read channel-major in place; conv1's rows are time-major, as conv2 reads them.
        ((ArrayView<float>)s.Mel.View).SubView(0, mel.Length).CopyFromCPU(mel);
        k.Conv1dUnfold(new Conv1dUnfoldArgs
        {
            Input = s.Mel.View, TimeStride = 1, ChannelStride = frames, Length = frames, Channels = bins,
            Taps = Taps, Stride = 1, Padding = 1, Columns = s.Columns.View, RowStride = w.Conv1Columns,
        });
        w.Conv1.Apply(k, s.Columns.View, frames, s.Conv1.View);
        k.GeluErf(s.Conv1.View, s.Conv1.View, frames * d);
        k.Conv1dUnfold(new Conv1dUnfoldArgs
        {
            Input = s.Conv1.View, TimeStride = d, ChannelStride = 1, Length = frames, Channels = d,
            Taps = Taps, Stride = 2, Padding = 1, Columns = s.Columns.View, RowStride = Taps * d,
        });
        w.Conv2.Apply(k, s.Columns.View, c, s.Normed.View);
        k.GeluErf(s.Normed.View, s.Normed.View, c * d);
        k.Add(s.Normed.View, w.Positions.View, s.X.View, c * d);

        var activations = new EncoderActivations(s.X.View, s.Normed.View, s.QueryKeyValue.View, s.Attention.View, s.Widened.View);
        int chunk = Math.Max(0, chunkFrames);
        foreach (var layer in w.Layers) layer.Forward(k, activations, c, config.Heads, config.HeadDim, eps, GeluForm.Erf, chunk);
        k.LayerNorm(s.X.View, c, w.FinalNormWeight.View, w.FinalNormBias.View, eps, s.Normed.View);

        // Projection and pooling: A = linear2(relu(linear1(H))), E = AvgPool1d(A).
        w.Projection1.Apply(k, s.Normed.View, c, s.Inner.View);
        k.Relu(s.Inner.View, s.Inner.View, c * w.Projection1.Outputs);
        w.Projection2.Apply(k, s.Inner.View, c, s.Projected.View);
        int tokens = k.AveragePool(s.Projected.View, c, width, config.PoolStep, s.Pooled.View);

        float[] Read(Buffer buffer, long count)
        {
            var values = new float[count];
            ((ArrayView<float>)buffer.View).SubView(0, count).CopyToCPU(values.AsSpan());
            return values;
        }
        return new GpuAudioOutputs(
            intermediates ? Read(s.Normed, (long)c * d) : [], intermediates ? Read(s.Projected, (long)c * width) : [],
            Read(s.Pooled, (long)tokens * width), c, tokens);
    }

    private Scratch EnsureScratch(int melFrames)
    {
        if (_scratch is not null && _scratch.MelFrames >= melFrames) return _scratch;
        return DeviceAllocation.Replace(ref _scratch, _device, $"the audio encoder's working buffers for {melFrames} mel frames",
            DeviceAllocation.EncoderAdvice, () => new Scratch(_device, melFrames, Config, _weights));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _scratch?.Dispose();
        _weights.Dispose();
    }

    /// <summary>Device activations for pieces of up to <see cref="MelFrames"/> mel frames.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(GpuDevice device, int melFrames, AudioConfig config, GpuWhisperWeights w)
        {
            MelFrames = melFrames;
            long f = melFrames, c = WhisperEncoder.OutputFrames(melFrames), d = config.DModel, width = w.EmbeddingWidth;
            Mel = device.Allocate<float>(config.MelBins * f);
            Columns = device.Allocate<float>(Math.Max(f * w.Conv1Columns, c * Taps * d));
            Conv1 = device.Allocate<float>(f * d);
            X = device.Allocate<float>(c * d);
            Normed = device.Allocate<float>(c * d);
            QueryKeyValue = device.Allocate<float>(c * 3 * d);
            Attention = device.Allocate<float>(c * d);
            Widened = device.Allocate<float>(c * w.Layers.Select(l => l.Up.Outputs).DefaultIfEmpty(1).Max());
            Inner = device.Allocate<float>(c * w.Projection1.Outputs);
            Projected = device.Allocate<float>(c * width);
            Pooled = device.Allocate<float>(Math.Max(1, c / config.PoolStep) * width);
        }

        public int MelFrames { get; }
        public Buffer Mel { get; }
        public Buffer Columns { get; }
        public Buffer Conv1 { get; }
        public Buffer X { get; }
        public Buffer Normed { get; }
        public Buffer QueryKeyValue { get; }
        public Buffer Attention { get; }
        public Buffer Widened { get; }
        public Buffer Inner { get; }
        public Buffer Projected { get; }
        public Buffer Pooled { get; }

        public void Dispose()
        {
            foreach (var b in new[] { Mel, Columns, Conv1, X, Normed, QueryKeyValue, Attention, Widened, Inner, Projected, Pooled }) b.Dispose();
        }
    }
}
