using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// One image piece (the overview or a slice) as the vision tower takes it: normalized pixels [3, Height, Width],
/// channel-major (R plane, then G, then B), already resized so that both sides are multiples of the patch size.
/// </summary>
public sealed record VisionSlice(float[] Pixels, int Height, int Width)
{
    /// <summary>Patch rows (h = Height / patch).</summary>
    public int PatchRows(int patchSize) => Height / patchSize;

    /// <summary>Patch columns (w = Width / patch).</summary>
    public int PatchColumns(int patchSize) => Width / patchSize;

    /// <summary>Throws <see cref="VisionInputException"/> unless the slice is h × w whole patches, 1 ≤ h·w ≤ <paramref name="maxPatches"/>.</summary>
    public void Validate(int patchSize, int maxPatches)
    {
        if (Pixels is null) throw new VisionInputException("slice has no pixel buffer");
        if (Height <= 0 || Width <= 0) throw new VisionInputException($"slice size {Width}×{Height} must be positive");
        if (Height % patchSize != 0 || Width % patchSize != 0)
            throw new VisionInputException($"slice size {Width}×{Height} is not a multiple of the {patchSize}-pixel patch on both sides");
        if ((long)Pixels.Length != 3L * Height * Width)
            throw new VisionInputException($"slice of {Width}×{Height} needs 3·{Height}·{Width} = {3L * Height * Width} pixel values, got {Pixels.Length}");
        long patches = (long)PatchRows(patchSize) * PatchColumns(patchSize);
        if (patches > maxPatches)
            throw new VisionInputException($"slice of {Width}×{Height} has {patches} patches; at most {maxPatches} (the position table's grid) are accepted");
    }
}
