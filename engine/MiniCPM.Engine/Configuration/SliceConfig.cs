namespace MiniCPM.Engine.Configuration;

/// <summary>UHD image slicing and prompt layout options (`slice_config`, `use_image_id`, `slice_mode`).</summary>
public sealed record SliceConfig
{
    public int MaxSliceNums { get; init; } = 9;
    public int ScaleResolution { get; init; } = 448;
    public int PatchSize { get; init; } = 14;
    public bool SliceMode { get; init; } = true;
    public bool UseImageId { get; init; } = true;
}
