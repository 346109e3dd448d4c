namespace MiniCPM.Engine.Errors;

/// <summary>
/// Image bytes that cannot become pixels: not an image format the engine reads, corrupt or truncated data, a zero
/// size, or an image larger than the decode limit (refused from its header, before any pixel memory is allocated).
/// </summary>
public sealed class ImageDecodeException : MiniCpmException
{
    /// <summary>The file the bytes came from, or null for a stream / byte array.</summary>
    public string? FilePath { get; }

    public ImageDecodeException(string problem, string? source = null, Exception? inner = null)
        : base(source is null ? $"cannot decode image: {problem}" : $"cannot decode image '{source}': {problem}", inner)
    {
        FilePath = source;
    }
}
