using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Images;
using MiniCPM.Engine.Vision;

namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// The model's own media encoder: an image is decoded, UHD-sliced and normalized (<see cref="ImagePreprocessor"/>),
/// each piece goes through SigLIP and the resampler (<see cref="IVisionEncoder"/>: the CPU <see cref="VisionTower"/> or
/// the GPU one), and its placeholder text is MiniCPM-V
/// 2.6's layout, whose runs take the pieces' rows in order; audio goes through the Whisper encoder, projection and
/// pooling (<see cref="AudioEmbedder"/>) with MiniCPM-o's audio placeholder layout.
/// </summary>
public sealed class ModelMediaEncoder : IMediaEncoder
{
    private readonly IVisionEncoder? _vision;
    private readonly AudioEmbedder? _audio;
    private readonly ImagePreprocessor? _preprocessor;
    private readonly string _modelName;

    /// <param name="slicing">The model's UHD slicing settings (max_slice_nums, use_image_id …); null: the defaults.</param>
    public ModelMediaEncoder(IVisionEncoder? vision, AudioEmbedder? audio, SliceConfig? slicing, string modelName)
    {
        _vision = vision;
        _audio = audio;
        _modelName = modelName;
        Slicing = slicing ?? new SliceConfig();
        if (vision is not null)
            _preprocessor = new ImagePreprocessor(Slicing, vision.VisionConfig.ImageMean, vision.VisionConfig.ImageStd);
    }

    public SliceConfig Slicing { get; }
    public bool HasVision => _vision is not null;
    public bool HasAudio => _audio is not null;

    public MediaEncoding Encode(ChatMedia media, int imageIndex) => media switch
    {
        ImageMedia image => EncodeImage(image, imageIndex),
        AudioMedia audio => EncodeAudio(audio),
        _ => throw new ArgumentException($"unknown media kind {media.GetType().Name}", nameof(media)),
    };

    /// <summary>The image's pieces (overview first, then tiles row by row) with their resampler rows.</summary>
    public (PreprocessedImage Image, float[][] Rows) EmbedImage(RgbImage image, int? maxSlices = null)
    {
        if (_vision is null || _preprocessor is null)
            throw new NoVisionTowerException(_modelName, "this model has no vision tower loaded (for a llama.cpp GGUF, pass its mmproj file)");
        var pre = _preprocessor.Preprocess(image, maxSlices);
        var rows = _vision.Embed(pre.Pieces.Select(p => new VisionSlice(p.Pixels, p.Height, p.Width)).ToArray());
        return (pre, rows);
    }

    private MediaEncoding EncodeImage(ImageMedia media, int imageIndex)
    {
        var decoded = ImageDecoder.Decode(media.EncodedBytes.ToArray());
        var options = ImagePromptOptions.ForImages(Slicing) with { MaxSliceNums = media.MaxSlices };
        if (media.UseImageId is { } useId) options = options with { UseImageId = useId };
        var (image, rows) = EmbedImage(decoded, media.MaxSlices);
        var placeholder = ImagePlaceholderLayout.Build(image.Plan, imageIndex, options);

        // Run i of the text stands for placeholder.Pieces[i]; find that piece's rows.
        var runs = placeholder.Pieces.Select(slot =>
        {
            int piece = image.Pieces.ToList().FindIndex(p => p.Role == slot.Role && p.Row == slot.Row && p.Column == slot.Column);
            if (piece < 0) throw new MediaPromptException($"the placeholder asks for a {slot.Role} piece at ({slot.Row}, {slot.Column}) that slicing did not make");
            return (ReadOnlyMemory<float>)rows[piece];
        }).ToArray();
        return new MediaEncoding(placeholder.Text, runs);
    }

    private MediaEncoding EncodeAudio(AudioMedia media)
    {
        if (_audio is null)
            throw new MediaPromptException($"{_modelName} has no audio encoder (MiniCPM-o 2.6's apm.* weights), so a message cannot carry audio");
        var clip = media.Samples is { } samples
            ? new AudioClip(samples.ToArray(), media.SampleRate, media.SourceName ?? "samples")
            : WavReader.Read(media.WavBytes.ToArray(), media.SourceName ?? "WAV bytes");
        var embedding = _audio.Embed(clip);
        var runs = new List<ReadOnlyMemory<float>>();
        int row = 0;
        foreach (var run in embedding.Layout.Runs)
        {
            runs.Add(embedding.Rows.AsMemory(row * embedding.Width, run.Rows * embedding.Width));
            row += run.Rows;
        }
        return new MediaEncoding(embedding.Layout.Text, runs);
    }
}
