namespace MiniCPM.Engine.Images;

/// <summary>Limits and conversions for <see cref="ImageDecoder"/>.</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>
    /// PIL's decompression-bomb threshold (Image.MAX_IMAGE_PIXELS = 89,478,485 ≈ 9459²): larger images are refused from
    /// the header size, before pixel memory is allocated. Decoding needs about 7 bytes per pixel at peak (an RGBA
    /// buffer, then the RGB image), ≈ 630 MB at this limit.
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    public static ImageDecodeOptions Default { get; } = new();

    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Longest encoded input read from a stream (512 MiB); longer streams are refused.</summary>
    public long MaxEncodedBytes { get; init; } = 512L << 20;

    /// <summary>Drop alpha like PIL's convert("RGB") (default, reference parity), or composite on white.</summary>
    public AlphaHandling Alpha { get; init; } = AlphaHandling.Drop;

    /// <summary>
    /// Turn the pixels upright per the EXIF orientation tag (default). The HF reference (PIL Image.open) does not, so
    /// switch this off to reproduce it on photos that carry a rotation tag.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;
}
