namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// An image or a piece of audio in a chat message, still encoded (file bytes or samples): the session's
/// <see cref="IMediaEncoder"/> turns it into placeholder text and embedding rows when the message is added.
/// </summary>
public abstract record ChatMedia
{
    /// <summary>Where the item came from (a file path), for error messages.</summary>
    public string? SourceName { get; init; }

    /// <summary>An image file's bytes (JPEG, PNG, WebP, BMP, GIF); slicing and image ids as the model's config says.</summary>
    public static ImageMedia Image(ReadOnlyMemory<byte> encodedBytes, string? sourceName = null) =>
        new(encodedBytes) { SourceName = sourceName };

    public static ImageMedia ImageFile(string path) => Image(File.ReadAllBytes(path), path);

    /// <summary>
    /// Video frames as MiniCPM-V 2.6 takes them: each frame an image without <c>&lt;image_id&gt;</c> and with at most
    /// <paramref name="maxSlicesPerFrame"/> slices (the official example uses 2, and 1 for large frames).
    /// </summary>
    public static IReadOnlyList<ImageMedia> VideoFrames(IEnumerable<ReadOnlyMemory<byte>> frames, int maxSlicesPerFrame = 2) =>
        frames.Select(f => new ImageMedia(f) { UseImageId = false, MaxSlices = maxSlicesPerFrame }).ToArray();

    /// <summary>A WAV file's bytes (resampled to 16 kHz mono by the encoder).</summary>
    public static AudioMedia Audio(ReadOnlyMemory<byte> wavBytes, string? sourceName = null) =>
        new(wavBytes, null, 0) { SourceName = sourceName };

    public static AudioMedia AudioFile(string path) => Audio(File.ReadAllBytes(path), path);

    /// <summary>Raw mono samples at <paramref name="sampleRate"/> Hz.</summary>
    public static AudioMedia AudioSamples(ReadOnlyMemory<float> samples, int sampleRate) => new(default, samples, sampleRate);
}

/// <summary>An encoded image. Null settings take the model's configuration (max_slice_nums, use_image_id).</summary>
public sealed record ImageMedia(ReadOnlyMemory<byte> EncodedBytes) : ChatMedia
{
    public int? MaxSlices { get; init; }
    public bool? UseImageId { get; init; }
}

/// <summary>Audio: either WAV bytes, or raw mono samples with their rate.</summary>
public sealed record AudioMedia(ReadOnlyMemory<byte> WavBytes, ReadOnlyMemory<float>? Samples, int SampleRate) : ChatMedia;
