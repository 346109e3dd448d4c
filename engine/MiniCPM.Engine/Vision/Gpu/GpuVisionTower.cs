using MiniCPM.Engine.Models;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// <see cref="VisionTower"/> on a GPU through ILGPU — the same math, <see cref="GpuSiglipEncoder"/> then
/// <see cref="GpuResampler"/>, with the weights uploaded once in their file dtype and every activation on the device.
/// Per slice the host uploads the pixels and the patches' position ids (and, for a grid wider than any before, the
/// one-axis sin-cos rows) and reads back only the <see cref="RowsPerSlice"/> × <see cref="RowWidth"/> LLM input rows.
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
    private readonly GpuSiglipEncoder _encoder;
    private readonly GpuResampler _resampler;
    private bool _disposed;

    private GpuVisionTower(GpuDevice device, bool ownsDevice, Func<GpuSiglipEncoder> encoder, Func<GpuResampler> resampler,
        Checkpoint? ownedCheckpoint)
    {
        _device = device;
        _ownsDevice = ownsDevice;
        (_encoder, _resampler) = DeviceAllocation.Run(device, "the vision tower", DeviceAllocation.EncoderAdvice, () => (encoder(), resampler()));
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
            TowerWeights.RequireTower(checkpoint);
            var opened = checkpoint;
            return new GpuVisionTower(gpu, ownsDevice: true, () => GpuSiglipEncoder.Load(opened, gpu), () => GpuResampler.Load(opened, gpu), checkpoint);
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
        TowerWeights.RequireTower(checkpoint);
        return new GpuVisionTower(device, ownsDevice: false, () => GpuSiglipEncoder.Load(checkpoint, device),
            () => GpuResampler.Load(checkpoint, device), null);
    }

    /// <summary>A random-weight tower of the given shape built on the device (benchmarks); <paramref name="type"/> F32, F16 or BF16.</summary>
    public static GpuVisionTower Random(GpuDevice device, VisionConfig vision, ResamplerConfig resampler, TensorType type, uint seed = 1)
    {
        var random = new RandomDeviceWeights(device, type, seed);
        return new GpuVisionTower(device, ownsDevice: false, () => GpuSiglipEncoder.Random(device, vision, random),
            () => GpuResampler.Random(device, resampler, random, seed), null);
    }

    public VisionConfig VisionConfig => _encoder.Config;
    public ResamplerConfig ResamplerConfig => _resampler.Config;
    public GpuDevice Device => _device;

    /// <summary>Rows each slice becomes (64).</summary>
    public int RowsPerSlice => ResamplerConfig.Queries;

    /// <summary>Width of each row (the LLM hidden size).</summary>
    public int RowWidth => ResamplerConfig.EmbedDim;

    /// <summary>Most patches one slice may have (the position table's grid, 70 × 70).</summary>
    public int MaxPatches => _encoder.MaxPatches;

    /// <summary>Device bytes of the weight matrices (what one slice's pass reads at least once).</summary>
    public long WeightBytes => _encoder.WeightBytes + _resampler.WeightBytes;

    /// <summary>Checks a slice exactly as the CPU tower does; throws <see cref="VisionInputException"/> naming the problem.</summary>
    public void Validate(VisionSlice slice) => _encoder.Validate(slice);

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
        var features = _encoder.EncodeOnDevice(slice);
        int p = VisionConfig.PatchSize;
        var rows = _resampler.ApplyOnDevice(features, slice.PatchRows(p), slice.PatchColumns(p));
        var result = new float[RowsPerSlice * RowWidth];
        rows.SubView(0, result.Length).CopyToCPU(result.AsSpan());
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _encoder.Dispose();
        _resampler.Dispose();
        _ownedCheckpoint?.Dispose();
        if (_ownsDevice) _device.Dispose();
    }
}
