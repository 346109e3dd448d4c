using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// <see cref="VisionTower"/> on a GPU through ILGPU — the same math (SigLIP then the resampler), with the weights
/// uploaded once in their file dtype and every activation on the device. Per slice the host uploads the pixels and
/// the patches' position ids (and, for a grid wider than any before, the one-axis sin-cos rows) and reads back only
/// the <see cref="RowsPerSlice"/> × <see cref="RowWidth"/> LLM input rows:
/// <code>
/// x = unfold(X)·W_convᵀ + b + P[id]                     gather, then the conv matmul accumulating onto it
/// per layer:  [q|k|v] = LN1(x)·W_qkvᵀ + b;  x += attention(q, k, v)·W_oᵀ + b_o
///             x += gelu_tanh(LN2(x)·W_fc1ᵀ + b1)·W_fc2ᵀ + b2
/// F = LN_post(x);  kv = LN_kv(F·W_kvᵀ)
/// K = (kv + pos(h, w))·W_kᵀ + b_k;  V = kv·W_vᵀ + b_v;  O = attention(Q, K, V)
/// rows = LN_post'(O·W_outᵀ + b_out)·proj
/// </code>
/// Slices run one at a time (each its own attention over its own patches, as on the CPU). One caller at a time.
/// <code>
/// using var tower = GpuVisionTower.Load("mmproj-model-f16.gguf", "cuda");
/// float[][] rows = tower.Embed([new VisionSlice(pixels, 448, 448)]);   // rows[0]: 64 × 3584
/// </code>
/// </summary>
public sealed class GpuVisionTower : IVisionEncoder
{
    private readonly GpuDevice _device;
    private readonly bool _ownsDevice;
    private readonly Checkpoint? _ownedCheckpoint;
    private readonly GpuVisionWeights _weights;
    private Scratch? _scratch;
    private Buffer? _axis;
    private int _axisPositions;
    private bool _disposed;

    private GpuVisionTower(GpuDevice device, bool ownsDevice, VisionConfig vision, ResamplerConfig resampler,
        Func<GpuVisionWeights> weights, Checkpoint? ownedCheckpoint)
    {
        CheckShape(device, vision, resampler);
        _device = device;
        _ownsDevice = ownsDevice;
        VisionConfig = vision;
        ResamplerConfig = resampler;
        _weights = weights();
        _ownedCheckpoint = ownedCheckpoint;
    }

    /// <summary>
    /// Opens <paramref name="path"/> (HF folder, safetensors file or mmproj GGUF) and <paramref name="device"/>
    /// ("cuda", "cuda:N", "opencl[:N]", or "simulator" for ILGPU's CPU simulator) and uploads the tower; the tower owns both.
    /// </summary>
    /// <exception cref="GpuUnavailableException">No such device or driver, or weights the GPU kernels cannot read.</exception>
    /// <exception cref="NoVisionTowerException">The checkpoint has no vision tower or resampler.</exception>
    public static GpuVisionTower Load(string path, string device = "cuda", FileResidency residency = FileResidency.Mapped)
    {
        var gpu = Qwen2GpuModel.OpenDevice(device);
        Checkpoint? checkpoint = null;
        try
        {
            checkpoint = Checkpoint.Open(path, residency);
            var (vision, resampler) = TowerWeights.RequireTower(checkpoint);
            var opened = checkpoint;
            return new GpuVisionTower(gpu, ownsDevice: true, vision, resampler,
                () => GpuVisionWeights.Upload(gpu, opened, vision, resampler), checkpoint);
        }
        catch
        {
            checkpoint?.Dispose();
            gpu.Dispose();
            throw;
        }
    }

    /// <summary>Uploads the tower of an opened checkpoint to an open device; neither is owned (the weights are copied, so the checkpoint may close).</summary>
    public static GpuVisionTower Load(Checkpoint checkpoint, GpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(device);
        var (vision, resampler) = TowerWeights.RequireTower(checkpoint);
        return new GpuVisionTower(device, ownsDevice: false, vision, resampler,
            () => GpuVisionWeights.Upload(device, checkpoint, vision, resampler), null);
    }

    /// <summary>A random-weight tower of the given shape built on the device (benchmarks); <paramref name="type"/> F32, F16 or BF16.</summary>
    public static GpuVisionTower Random(GpuDevice device, VisionConfig vision, ResamplerConfig resampler, TensorType type, uint seed = 1) =>
        new(device, ownsDevice: false, vision, resampler, () => GpuVisionWeights.Random(device, vision, resampler, type, seed), null);

    public VisionConfig VisionConfig { get; }
    public ResamplerConfig ResamplerConfig { get; }
    public GpuDevice Device => _device;

    /// <summary>Rows each slice becomes (64).</summary>
    public int RowsPerSlice => ResamplerConfig.Queries;

    /// <summary>Width of each row (the LLM hidden size).</summary>
    public int RowWidth => ResamplerConfig.EmbedDim;

    /// <summary>Most patches one slice may have (the position table's grid, 70 × 70).</summary>
    public int MaxPatches => VisionConfig.PositionGridSide * VisionConfig.PositionGridSide;

    /// <summary>Device bytes of the weight matrices (what one slice's pass reads at least once).</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Checks a slice exactly as the CPU tower does; throws <see cref="VisionInputException"/> naming the problem.</summary>
    public void Validate(VisionSlice slice)
    {
        ArgumentNullException.ThrowIfNull(slice);
        slice.Validate(VisionConfig.PatchSize, MaxPatches);
    }

    /// <summary>
    /// Per slice, in order, its <see cref="RowsPerSlice"/> × <see cref="RowWidth"/> LLM input rows (row-major). Every
    /// slice is checked before any work starts; a bad one raises <see cref="VisionInputException"/>.
    /// </summary>
    public float[][] Embed(IReadOnlyList<VisionSlice> slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        foreach (var slice in slices) Validate(slice);
        var result = new float[slices.Count][];
        for (int i = 0; i < slices.Count; i++) result[i] = Embed(slices[i]);
        return result;
    }

    /// <summary>One slice's LLM input rows.</summary>
    public float[] Embed(VisionSlice slice)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Validate(slice);
        var v = VisionConfig;
        var k = _device.Kernels;
        var w = _weights;
        int p = v.PatchSize, rows = slice.PatchRows(p), columns = slice.PatchColumns(p), n = rows * columns;
        int hidden = v.HiddenSize, d = RowWidth, queries = RowsPerSlice;
        float eps = (float)v.LayerNormEps;
        var s = EnsureScratch(n);
        var axis = EnsureAxis(Math.Max(rows, columns));

        // Embedding: x = P[id] first, then the convolution (+ bias) accumulates onto it.
        s.Pixels.View.SubView(0, slice.Pixels.Length).CopyFromCPU(slice.Pixels);
        s.Ids.View.SubView(0, n).CopyFromCPU(NavitPositionIds.ForGrid(rows, columns, v.PositionGridSide));
        k.PatchUnfold(s.Pixels.View, slice.Height, slice.Width, p, s.Unfolded.View, w.PatchLength);
        k.Gather(w.PositionTable, s.Ids.View, n, s.X.View);
        w.PatchConvolution.Apply(k, s.Unfolded.View, n, s.X.View, accumulate: true);

        ArrayView<float> qkv = s.QueryKeyValue.View;
        foreach (var layer in w.Layers)
        {
            k.LayerNorm(s.X.View, n, layer.Norm1Weight.View, layer.Norm1Bias.View, eps, s.Normed.View);
            layer.QueryKeyValue.Apply(k, s.Normed.View, n, qkv);
            k.DenseAttention(new DenseAttentionArgs
            {
                Query = qkv, Key = qkv.SubView(hidden), Value = qkv.SubView(2 * hidden), Output = s.Attention.View,
                QueryStride = 3 * hidden, KeyStride = 3 * hidden, ValueStride = 3 * hidden, OutputStride = hidden,
                Queries = n, Keys = n, Heads = v.Heads, HeadDim = v.HeadDim, Scale = 1f / MathF.Sqrt(v.HeadDim),
            });
            layer.Output.Apply(k, s.Attention.View, n, s.X.View, accumulate: true);

            k.LayerNorm(s.X.View, n, layer.Norm2Weight.View, layer.Norm2Bias.View, eps, s.Normed.View);
            layer.Up.Apply(k, s.Normed.View, n, s.Widened.View);
            k.GeluTanh(s.Widened.View, s.Widened.View, n * w.Intermediate);
            layer.Down.Apply(k, s.Widened.View, n, s.X.View, accumulate: true);
        }
        k.LayerNorm(s.X.View, n, w.PostNormWeight.View, w.PostNormBias.View, eps, s.Normed.View);

        // Resampler: the slice's features become keys and values for the learned queries.
        w.ResamplerKv.Apply(k, s.Normed.View, n, s.Kv.View);
        k.LayerNorm(s.Kv.View, n, w.KvNormWeight.View, w.KvNormBias.View, Resampler.Eps, s.Kv.View);
        k.AddGridPositions(s.Kv.View, rows, columns, axis.View, d, s.KeyInput.View);
        w.ResamplerKey.Apply(k, s.KeyInput.View, n, s.Keys.View);
        w.ResamplerValue.Apply(k, s.Kv.View, n, s.Values.View);
        k.DenseAttention(new DenseAttentionArgs
        {
            Query = w.Queries.View, Key = s.Keys.View, Value = s.Values.View, Output = s.QueryRows.View,
            QueryStride = d, KeyStride = d, ValueStride = d, OutputStride = d,
            Queries = queries, Keys = n, Heads = ResamplerConfig.Heads, HeadDim = ResamplerConfig.HeadDim,
            Scale = 1f / MathF.Sqrt(ResamplerConfig.HeadDim),
        });
        w.ResamplerOutput.Apply(k, s.QueryRows.View, queries, s.Output.View);
        k.LayerNorm(s.Output.View, queries, w.ResamplerPostNormWeight.View, w.ResamplerPostNormBias.View, Resampler.Eps, s.Output.View);
        w.Projection.Apply(k, s.Output.View, queries, s.QueryRows.View);

        var result = new float[queries * d];
        ((ArrayView<float>)s.QueryRows.View).SubView(0, result.Length).CopyToCPU(result.AsSpan());
        return result;
    }

    /// <summary>The GPU kernels' limits on the tower's shape (the CPU tower has none of these).</summary>
    private static void CheckShape(GpuDevice device, VisionConfig vision, ResamplerConfig resampler)
    {
        string? problem = null;
        if (vision.HiddenSize % 32 != 0) problem = $"vision hidden size {vision.HiddenSize} is not a multiple of 32";
        else if (vision.HiddenSize % vision.Heads != 0 || vision.HeadDim > DenseAttentionKernel.MaxHeadDim)
            problem = $"vision head dimension {vision.HiddenSize}/{vision.Heads} exceeds the attention kernel's {DenseAttentionKernel.MaxHeadDim}";
        else if (resampler.EmbedDim % 128 != 0) problem = $"resampler width {resampler.EmbedDim} is not a multiple of 128";
        if (problem is not null) throw new GpuUnavailableException(device.Name, problem + "; use --device cpu");
    }

    private Buffer EnsureAxis(int positions)
    {
        if (_axis is not null && _axisPositions >= positions) return _axis;
        // The one-axis embedding of position q is the first half of cell (0, q) of the CPU table.
        int d = RowWidth, half = d / 2;
        var table = new float[(long)positions * half];
        var cell = new float[d];
        for (int q = 0; q < positions; q++)
        {
            SinCosPositionTable.Cell(0, q, cell);
            cell.AsSpan(0, half).CopyTo(table.AsSpan(q * half));
        }
        _axis?.Dispose();
        _axis = _device.Upload<float>(table);
        _axisPositions = positions;
        return _axis;
    }

    private Scratch EnsureScratch(int patches)
    {
        if (_scratch is not null && _scratch.Patches >= patches) return _scratch;
        _scratch?.Dispose();
        _scratch = new Scratch(_device, patches, VisionConfig, ResamplerConfig, _weights);
        return _scratch;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _scratch?.Dispose();
        _axis?.Dispose();
        _weights.Dispose();
        _ownedCheckpoint?.Dispose();
        if (_ownsDevice) _device.Dispose();
    }

    /// <summary>Device activations for slices of up to <see cref="Patches"/> patches.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(GpuDevice device, int patches, VisionConfig v, ResamplerConfig r, GpuVisionWeights w)
        {
            Patches = patches;
            long n = patches, hidden = v.HiddenSize, d = r.EmbedDim;
            Pixels = device.Allocate<float>(3 * n * v.PatchSize * v.PatchSize);
            Ids = device.Allocate<int>(n);
            Unfolded = device.Allocate<float>(n * w.PatchLength);
            X = device.Allocate<float>(n * hidden);
            Normed = device.Allocate<float>(n * hidden);
            QueryKeyValue = device.Allocate<float>(n * 3 * hidden);
            Attention = device.Allocate<float>(n * hidden);
            Widened = device.Allocate<float>(n * w.Intermediate);
            Kv = device.Allocate<float>(n * d);
            KeyInput = device.Allocate<float>(n * d);
            Keys = device.Allocate<float>(n * d);
            Values = device.Allocate<float>(n * d);
            QueryRows = device.Allocate<float>(r.Queries * d);
            Output = device.Allocate<float>(r.Queries * d);
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
        public Buffer Kv { get; }
        public Buffer KeyInput { get; }
        public Buffer Keys { get; }
        public Buffer Values { get; }
        public Buffer QueryRows { get; }
        public Buffer Output { get; }

        public void Dispose()
        {
            foreach (var b in new[] { Pixels, Unfolded, X, Normed, QueryKeyValue, Attention, Widened, Kv, KeyInput, Keys, Values, QueryRows, Output })
                b.Dispose();
            Ids.Dispose();
        }
    }
}
