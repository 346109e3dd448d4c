using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// MiniCPM-V's eyes: normalized image slices in, LLM input rows out — SigLIP (<see cref="SiglipEncoder"/>) then the
/// resampler (<see cref="Resampler"/>), <see cref="ResamplerConfig.Queries"/> rows of the LLM's width per slice.
/// Loads from an HF checkpoint (folder or safetensors with `vpm.*` and `resampler.*`) or a llama.cpp mmproj GGUF.
/// <code>
/// using var tower = VisionTower.Load("mmproj-model-f16.gguf", threads: 2);
/// float[][] rows = tower.Embed([new VisionSlice(pixels, 448, 448)]);   // rows[0]: 64 × hidden
/// </code>
/// One caller at a time.
/// </summary>
public sealed class VisionTower : IVisionEncoder
{
    private readonly Checkpoint? _ownedCheckpoint;
    private readonly CpuThreadPool? _pool;

    private VisionTower(Checkpoint checkpoint, int threads, bool owns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        TowerWeights.RequireTower(checkpoint);
        Encoder = SiglipEncoder.Load(checkpoint);
        Resampler = Resampler.Load(checkpoint);
        _pool = threads > 1 ? new CpuThreadPool(threads) : null;
        _ownedCheckpoint = owns ? checkpoint : null;
    }

    /// <summary>Builds the tower over an opened checkpoint, which must outlive it.</summary>
    public static VisionTower Load(Checkpoint checkpoint, int threads = 1) => new(checkpoint, threads, owns: false);

    /// <summary>Opens <paramref name="path"/> (HF folder, safetensors file or mmproj GGUF); the tower owns it.</summary>
    public static VisionTower Load(string path, int threads = 1, FileResidency residency = FileResidency.Mapped)
    {
        var checkpoint = Checkpoint.Open(path, residency);
        try
        {
            return new VisionTower(checkpoint, threads, owns: true);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public SiglipEncoder Encoder { get; }

    /// <summary>The SigLIP settings (<see cref="SiglipEncoder.Config"/>).</summary>
    public VisionConfig VisionConfig => Encoder.Config;
    public Resampler Resampler { get; }

    /// <summary>Rows each slice becomes (64).</summary>
    public int RowsPerSlice => Resampler.Config.Queries;

    /// <summary>Width of each row (the LLM hidden size).</summary>
    public int RowWidth => Resampler.Config.EmbedDim;

    /// <summary>
    /// Per slice, in order, its <see cref="RowsPerSlice"/> × <see cref="RowWidth"/> LLM input rows (row-major). Every
    /// slice is checked before any work starts; a bad one raises <see cref="VisionInputException"/>.
    /// </summary>
    public float[][] Embed(IReadOnlyList<VisionSlice> slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        foreach (var slice in slices) Encoder.Validate(slice);
        var result = new float[slices.Count][];
        for (int i = 0; i < slices.Count; i++) result[i] = Embed(slices[i]);
        return result;
    }

    /// <summary>One slice's LLM input rows.</summary>
    public float[] Embed(VisionSlice slice)
    {
        var features = Encoder.Encode(slice, _pool);
        int p = Encoder.Config.PatchSize;
        return Resampler.Apply(features, slice.PatchRows(p), slice.PatchColumns(p), _pool);
    }

    public void Dispose()
    {
        _pool?.Dispose();
        _ownedCheckpoint?.Dispose();
    }
}
