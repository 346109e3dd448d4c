using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// MiniCPM-V's SigLIP "NaViT" vision tower (`vpm`, reference doc §3): patch embedding with bucketized learned
/// positions, the pre-LN encoder layers (all of them unless the config drops the last), post_layernorm. Slices of any
/// size (whole patches, at most side² patches) run one at a time: HF pads a batch to its longest slice and masks the
/// padded keys, which leaves every real patch's result exactly what the slice gives alone, so
/// <see cref="Encode(IReadOnlyList{VisionSlice}, CpuThreadPool?)"/> equals slice-by-slice calls bit for bit.
/// One caller at a time (scratch buffers are shared).
/// </summary>
public sealed class SiglipEncoder
{
    private readonly PatchEmbedding _embedding;
    private readonly SiglipLayer[] _layers;
    private readonly float[] _postNormWeight, _postNormBias;
    private readonly SiglipScratch _scratch;

    private SiglipEncoder(VisionConfig config, TowerWeights w)
    {
        Config = config;
        _embedding = PatchEmbedding.Load(config, w);
        _layers = new SiglipLayer[config.LayersUsed];
        for (int i = 0; i < _layers.Length; i++) _layers[i] = SiglipLayer.Load(config, w, i);
        _postNormWeight = w.Vector("vision.post_ln.weight", config.HiddenSize);
        _postNormBias = w.Vector("vision.post_ln.bias", config.HiddenSize);
        _scratch = new SiglipScratch(config.HiddenSize, config.IntermediateSize);
    }

    /// <summary>
    /// Builds the encoder over an opened checkpoint (which must outlive it). A checkpoint without a vision tower
    /// raises <see cref="NoVisionTowerException"/>; malformed weights raise <see cref="Loaders.ModelFormatException"/>.
    /// </summary>
    public static SiglipEncoder Load(Checkpoint checkpoint)
    {
        var config = TowerWeights.RequireVision(checkpoint);
        return new SiglipEncoder(config, new TowerWeights(checkpoint));
    }

    public VisionConfig Config { get; }

    /// <summary>Most patches one slice may have: the position table's grid (70 × 70 = 4900, a 980 × 980 slice).</summary>
    public int MaxPatches => Config.PositionGridSide * Config.PositionGridSide;

    /// <summary>Checks a slice; throws <see cref="VisionInputException"/> naming the problem.</summary>
    public void Validate(VisionSlice slice)
    {
        ArgumentNullException.ThrowIfNull(slice);
        slice.Validate(Config.PatchSize, MaxPatches);
    }

    /// <summary>The encoder input of a slice (patch convolution + position embedding), [h·w, hidden] row-major.</summary>
    public float[] Embed(VisionSlice slice, CpuThreadPool? pool = null)
    {
        Validate(slice);
        int patches = slice.PatchRows(Config.PatchSize) * slice.PatchColumns(Config.PatchSize);
        var output = new float[checked(patches * Config.HiddenSize)];
        _embedding.Apply(slice, output, pool);
        return output;
    }

    /// <summary>The vision features of one slice after post_layernorm, [h·w, hidden] row-major.</summary>
    public float[] Encode(VisionSlice slice, CpuThreadPool? pool = null)
    {
        var x = Embed(slice, pool);
        int rows = x.Length / Config.HiddenSize;
        _scratch.EnsureRows(rows);
        foreach (var layer in _layers) layer.Apply(x, rows, _scratch, pool);
        LayerNorm.ApplyRows(x, rows, _postNormWeight, _postNormBias, (float)Config.LayerNormEps, x, pool);
        return x;
    }

    /// <summary>Every slice's features, in order (all slices are validated before any is encoded).</summary>
    public float[][] Encode(IReadOnlyList<VisionSlice> slices, CpuThreadPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(slices);
        foreach (var slice in slices) Validate(slice);
        var features = new float[slices.Count][];
        for (int i = 0; i < slices.Count; i++) features[i] = Encode(slices[i], pool);
        return features;
    }
}
