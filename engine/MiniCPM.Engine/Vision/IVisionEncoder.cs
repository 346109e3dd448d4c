using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// Image slices in, LLM input rows out: the seam between the media encoder and a vision tower on either backend
/// (<see cref="VisionTower"/> on the CPU, <see cref="Gpu.GpuVisionTower"/> on a GPU).
/// </summary>
public interface IVisionEncoder : IDisposable
{
    /// <summary>The SigLIP tower's settings (patch size, image mean/std for preprocessing).</summary>
    VisionConfig VisionConfig { get; }

    /// <summary>Rows each slice becomes (the resampler's queries, 64).</summary>
    int RowsPerSlice { get; }

    /// <summary>Width of each row (the LLM hidden size).</summary>
    int RowWidth { get; }

    /// <summary>Per slice, in order, its RowsPerSlice × RowWidth rows; every slice is checked before any work starts.</summary>
    float[][] Embed(IReadOnlyList<VisionSlice> slices);
}
