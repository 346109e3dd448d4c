using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine;

/// <summary>
/// The entry point for applications: a loaded model with its tokenizer, from which chat sessions and one-shot
/// generators are made. All sessions share the model's weights (memory-mapped) and its paged KV cache.
/// <code>
/// using var model = MiniCpm.Load("ggml-model-f16.gguf");
/// using var chat = model.CreateChat();
/// chat.AddUser("Hello!");
/// await foreach (var token in chat.StreamReplyAsync()) Console.Write(token.Text);
///
/// using var v = MiniCpm.Load("ggml-model-Q4_K_M.gguf", new() { MmprojPath = "mmproj-model-f16.gguf" });
/// using var visual = v.CreateChat();
/// visual.AddUser("What is in the image?", ChatMedia.ImageFile("cat.jpg"));
/// </code>
/// </summary>
public sealed class MiniCpm : IDisposable
{
    private readonly ILanguageModel _model;
    private readonly IVisionEncoder? _vision;
    private readonly AudioEmbedder? _audio;
    private readonly GpuDevice? _device; // shared by the GPU language model, vision tower and audio encoder, disposed after them

    private MiniCpm(ILanguageModel model, Qwen2Tokenizer tokenizer, string sourcePath, IVisionEncoder? vision, AudioEmbedder? audio,
        Configuration.SliceConfig? slicing, GpuDevice? device)
    {
        _model = model;
        _device = device;
        Tokenizer = tokenizer;
        SourcePath = sourcePath;
        _vision = vision;
        _audio = audio;
        MediaEncoder = vision is null && audio is null ? null : new ModelMediaEncoder(vision, audio, slicing, sourcePath);
    }

    /// <summary>
    /// Loads a GGUF file, an HF checkpoint folder or a safetensors file with its config.json. Malformed files raise
    /// <see cref="Loaders.ModelFormatException"/>; a model without a tokenizer raises
    /// <see cref="TokenizerNotFoundException"/> (pass <see cref="MiniCpmOptions.TokenizerPath"/>).
    /// </summary>
    public static MiniCpm Load(string path, MiniCpmOptions? options = null)
    {
        options ??= new MiniCpmOptions();
        var tokenizer = ModelTokenizer.Load(options.TokenizerPath ?? path);
        if (options.ValidateQuantizedScales)
        {
            using var checkpoint = Checkpoint.Open(path);
            Loaders.QuantizedScaleCheck.RequireFiniteScales(checkpoint.Tensors);
        }
        // One device (one context, each kernel compiled once) for the language model, the vision tower and the audio encoder.
        GpuDevice? device = options.Device is "cpu" ? null : Qwen2GpuModel.OpenDevice(options.Device);
        ILanguageModel? model = null;
        IVisionEncoder? vision = null;
        AudioEmbedder? audio = null;
        try
        {
            if (device is not null) device.MemoryLimitBytes = options.GpuMemoryLimitBytes;
            model = device is null
                ? Qwen2Model.Load(path, new Qwen2Options { Threads = options.Threads, KvCacheTokens = options.KvCacheTokens, WeightResidency = options.WeightResidency })
                : Qwen2GpuModel.Load(path, device, new Qwen2GpuOptions { KvCacheTokens = options.KvCacheTokens });
            Configuration.SliceConfig? slicing = null;
            if (options.LoadMediaEncoders)
                (vision, audio, slicing) = LoadMediaEncoders(path, options, device);
            return new MiniCpm(model, tokenizer, path, vision, audio, slicing, device);
        }
        catch
        {
            vision?.Dispose();
            audio?.Dispose();
            model?.Dispose();
            device?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The vision tower (from the checkpoint or the mmproj) and the audio encoder, where the files have them; both on
    /// the GPU when <see cref="MiniCpmOptions.Device"/> names one.
    /// </summary>
    private static (IVisionEncoder?, AudioEmbedder?, Configuration.SliceConfig?) LoadMediaEncoders(string path, MiniCpmOptions options,
        GpuDevice? device)
    {
        using var checkpoint = Checkpoint.Open(path);
        var config = checkpoint.Config;
        IVisionEncoder? vision = null;
        AudioEmbedder? audio = null;
        try
        {
            string? towerPath = options.MmprojPath ?? (config.Vision is not null && HasVisionWeights(checkpoint) ? path : null);
            if (towerPath is not null)
            {
                if (device is null)
                    vision = VisionTower.Load(towerPath, options.Threads, options.WeightResidency);
                else
                {
                    using var tower = Checkpoint.Open(towerPath, options.WeightResidency); // the weights are copied to the device
                    vision = GpuVisionTower.Load(tower, device);
                }
            }
            if (config.Audio is not null && checkpoint.Weights.Weights.Any(w => w.InternalName.StartsWith("audio.", StringComparison.Ordinal)))
                audio = device is null
                    ? AudioEmbedder.Load(path, new AudioEmbedderOptions { Threads = options.Threads, Residency = options.WeightResidency })
                    : new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = options.Threads, Device = device }); // the weights are copied to the device
            return (vision, audio, config.Slicing);
        }
        catch
        {
            vision?.Dispose();
            throw;
        }
    }

    /// <summary>A config may describe a vision tower the file does not hold (a text-only export); the weights decide.</summary>
    private static bool HasVisionWeights(Checkpoint checkpoint) =>
        checkpoint.Weights.Weights.Any(w => w.InternalName.StartsWith("vision.", StringComparison.Ordinal)) &&
        checkpoint.Weights.Weights.Any(w => w.InternalName.StartsWith("resampler.", StringComparison.Ordinal));

    public string SourcePath { get; }
    public LlmConfig Config => _model.Config;
    public Qwen2Tokenizer Tokenizer { get; }

    /// <summary>The language model itself, for batched forward passes and custom decoding.</summary>
    public ILanguageModel LanguageModel => _model;

    /// <summary>The SigLIP tower and resampler on the CPU, when the checkpoint (or its mmproj) has them; null when they
    /// run on a GPU (<see cref="VisionEncoder"/> holds either).</summary>
    public VisionTower? Vision => _vision as VisionTower;

    /// <summary>The vision tower on whichever backend <see cref="MiniCpmOptions.Device"/> chose, or null.</summary>
    public IVisionEncoder? VisionEncoder => _vision;

    /// <summary>MiniCPM-o's Whisper encoder and projection, when the checkpoint has them.</summary>
    public AudioEmbedder? Audio => _audio;

    /// <summary>Turns images and audio into placeholder text and embedding rows (null for a text-only model).</summary>
    public ModelMediaEncoder? MediaEncoder { get; }

    /// <summary>A new conversation (ChatML, MiniCPM's default system prompt and sampling unless set). Messages may
    /// carry images/audio when the model has the towers (the session uses <see cref="MediaEncoder"/> unless the
    /// options name another).</summary>
    public ChatSession CreateChat(ChatSessionOptions? options = null)
    {
        options ??= new ChatSessionOptions();
        if (options.MediaEncoder is null && MediaEncoder is not null) options = options with { MediaEncoder = MediaEncoder };
        return new(_model, Tokenizer, options);
    }

    /// <summary>A one-shot generator over raw prompt ids.</summary>
    public Generator CreateGenerator() => new(_model, Tokenizer);

    public void Dispose()
    {
        _vision?.Dispose();
        _audio?.Dispose();
        _model.Dispose();
        _device?.Dispose();
    }
}
