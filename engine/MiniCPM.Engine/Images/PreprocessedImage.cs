namespace MiniCPM.Engine.Images;

/// <summary>An image after UHD preprocessing: its plan and its pieces in model order (overview, then tiles row-major).</summary>
public sealed record PreprocessedImage(SlicePlan Plan, IReadOnlyList<PieceTensor> Pieces);
