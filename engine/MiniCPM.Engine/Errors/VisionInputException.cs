namespace MiniCPM.Engine.Errors;

/// <summary>
/// An image slice the vision tower cannot take: a size that is not a whole number of patches, more patches than the
/// position table covers, or a pixel buffer that does not match the stated size.
/// </summary>
public sealed class VisionInputException(string problem) : MiniCpmException(problem);
