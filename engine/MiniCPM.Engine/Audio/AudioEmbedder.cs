using MiniCPM.Engine.Audio.Gpu;
using MiniCPM.Engine.Configuration;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Audio;

/// <summary>How <see cref="AudioEmbedder"/> runs.</summary>
public sealed record AudioEmbedderOptions
{
    /// <summary>Worker threads, the caller included (the encoder's on the CPU; the log-mel's either way).</summary>
    public int Threads { get; init; } = Math.Min(Environment.ProcessorCount, 4);

    /// <summary>
    /// Placeholder runs of one second (<c>chunk_input</c>, the default of MiniCPM-o's <c>chat()</c>) rather than one run
    /// per clip.
    /// </summary>
    public bool ChunkedPlaceholders { get; init; } = true;

    /// <summary>
    /// Attention inside the encoder: false follows the configuration (block-causal chunks of
    /// <c>audio_chunk_length</c>, as <c>chat()</c>/<c>generate()</c> run it); true forces full attention.
    /// </summary>
    public bool FullAttention { get; init; }

    public FileResidency Residency { get; init; } = FileResidency.Mapped;

    /// <summary>
    /// An open GPU (not owned) to run the encoder, projection and pooling on (<see cref="GpuWhisperEncoder"/>; the
    /// log-mel stays on the CPU); null runs everything on the CPU.
    /// </summary>
    public GpuDevice? Device { get; init; }
}

/// <summary>What the audio path produced for one clip, ready to be spliced into a prompt.</summary>
/// <param name="Rows">Embeddings [Tokens, Width], row-major, in placeholder order.</param>
/// <param name="Layout">The placeholder text for the clip and how many rows each run takes.</param>
public sealed record AudioEmbedding(float[] Rows, int Tokens, int Width, AudioPlaceholderLayout Layout, double Seconds);

/// <summary>Every intermediate of one ≤ 30 s piece (for checks against reference implementations).</summary>
/// <param name="Mel">[MelBins, MelFrames].</param>
/// <param name="Hidden">Encoder output H [EncoderFrames, d].</param>
/// <param name="Projected">Projection before pooling [EncoderFrames, Width].</param>
/// <param name="Pooled">LLM embeddings [Tokens, Width].</param>
public sealed record AudioPieceOutputs(float[] Mel, int MelFrames, float[] Hidden, int EncoderFrames, float[] Projected, float[] Pooled, int Tokens);

/// <summary>
/// MiniCPM-o 2.6's audio path, from samples to LLM embeddings: resample to 16 kHz, cut into 30 s pieces (as the
/// processor does), Whisper log-mel per piece, Whisper encoder, projection and average pooling; the pieces' embeddings
/// are concatenated in order. Checks the clip against the context before any computation. The encoder runs on the CPU
/// or, with <see cref="AudioEmbedderOptions.Device"/>, on a GPU.
/// Not thread-safe (one pool or device scratch); one embedder per session thread.
/// </summary>
public sealed class AudioEmbedder : IDisposable
{
    private readonly Checkpoint? _owned;
    private readonly WhisperEncoder? _encoder;
    private readonly AudioProjector? _projector;
    private readonly CpuThreadPool _pool;
    private readonly GpuWhisperEncoder? _gpu;
    private readonly WhisperLogMel _logMel;
    private readonly AudioEmbedderOptions _options;
    private readonly int? _contextTokens;

    /// <summary>Uses an opened MiniCPM-o checkpoint (which must outlive a CPU embedder; a GPU embedder copies the weights
    /// to its device, so the checkpoint may close after this).</summary>
    public AudioEmbedder(Checkpoint checkpoint, AudioEmbedderOptions? options = null) : this(checkpoint, owned: false, options) { }

    private AudioEmbedder(Checkpoint checkpoint, bool owned, AudioEmbedderOptions? options)
    {
        _options = options ?? new AudioEmbedderOptions();
        if (_options.Device is { } device)
        {
            _gpu = GpuWhisperEncoder.Load(checkpoint, device);
            Config = _gpu.Config;
            EmbeddingWidth = _gpu.EmbeddingWidth;
        }
        else
        {
            var weights = WhisperWeights.Load(checkpoint);
            Config = weights.Config;
            _encoder = new WhisperEncoder(weights);
            _projector = new AudioProjector(weights);
            EmbeddingWidth = _projector.Width;
        }
        try
        {
            _logMel = new WhisperLogMel(Config.MelBins);
            // The CPU path's encoder threads; on a GPU the log-mel's, which is then the CPU's whole share.
            _pool = new CpuThreadPool(Math.Max(1, _options.Threads));
        }
        catch
        {
            _gpu?.Dispose(); // its device memory would outlive a constructor that failed
            throw;
        }
        _contextTokens = checkpoint.Config.Llm?.MaxPositions;
        _owned = owned ? checkpoint : null;
    }

    /// <summary>Opens a MiniCPM-o 2.6 checkpoint (HF folder or safetensors) for its audio encoder and projection.</summary>
    public static AudioEmbedder Load(string path, AudioEmbedderOptions? options = null)
    {
        var checkpoint = Checkpoint.Open(path, (options ?? new AudioEmbedderOptions()).Residency);
        try
        {
            return new AudioEmbedder(checkpoint, owned: true, options);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public AudioConfig Config { get; }

    /// <summary>Width of the embeddings (the LLM hidden size).</summary>
    public int EmbeddingWidth { get; }

    /// <summary>Whether the encoder runs on a GPU.</summary>
    public bool OnGpu => _gpu is not null;

    /// <summary>Encoder frames per attention chunk in use (0: full attention).</summary>
    public int ChunkFrames => _options.FullAttention ? 0 : AudioAttentionMask.ChunkFrames(Config.ChunkLengthSeconds);

    /// <summary>The placeholder layout of <paramref name="samples"/> samples at 16 kHz under these options.</summary>
    public AudioPlaceholderLayout Layout(long samples) =>
        AudioPlaceholders.ForSamples(samples, _options.ChunkedPlaceholders, Config.ChunkLengthSeconds, Config.PoolStep);

    /// <summary>
    /// The embeddings of <paramref name="clip"/> (any supported rate). <paramref name="contextTokens"/> bounds the
    /// placeholder tokens (default: the LLM's context length); more raises <see cref="AudioTooLongException"/> first.
    /// </summary>
    public AudioEmbedding Embed(AudioClip clip, int? contextTokens = null)
    {
        var audio = clip.ToWhisperRate();
        var layout = Layout(audio.Samples.Length);
        if (layout.Rows == 0)
            throw new InvalidAudioException(clip.Source, $"{clip.DurationSeconds * 1000:0.#} ms of audio is too short for one audio token (at least 321 samples at 16 kHz, 20 ms)");
        int limit = contextTokens ?? _contextTokens ?? int.MaxValue;
        if (layout.TokenCount > limit) throw new AudioTooLongException(clip.DurationSeconds, layout.TokenCount, limit);

        var rows = new List<float>(layout.Rows * EmbeddingWidth);
        for (int start = 0; start < audio.Samples.Length; start += WhisperLogMel.PaddedSamples)
        {
            int length = Math.Min(WhisperLogMel.PaddedSamples, audio.Samples.Length - start);
            rows.AddRange(EmbedPiece(audio.Samples.AsSpan(start, length)));
        }
        int tokens = rows.Count / EmbeddingWidth;
        if (tokens != layout.Rows) throw new InvalidOperationException($"pieces gave {tokens} rows for a layout of {layout.Rows}");
        return new AudioEmbedding(rows.ToArray(), tokens, EmbeddingWidth, layout, clip.DurationSeconds);
    }

    /// <summary>One piece of 1 … 480 000 samples at 16 kHz through every stage, keeping the intermediates.</summary>
    public AudioPieceOutputs EncodePiece(ReadOnlySpan<float> samples)
    {
        var (mel, melFrames) = LogMel(samples);
        if (_gpu is not null)
        {
            var o = _gpu.Run(mel, melFrames, ChunkFrames, intermediates: true);
            return new AudioPieceOutputs(mel, melFrames, o.Hidden, o.EncoderFrames, o.Projected, o.Pooled, o.Tokens);
        }
        var hidden = _encoder!.Encode(mel, melFrames, ChunkFrames, _pool);
        int frames = WhisperEncoder.OutputFrames(melFrames);
        var projected = _projector!.Project(hidden, frames, _pool);
        var pooled = AudioProjector.AveragePool(projected, frames, EmbeddingWidth, Config.PoolStep);
        return new AudioPieceOutputs(mel, melFrames, hidden, frames, projected, pooled, pooled.Length / EmbeddingWidth);
    }

    /// <summary>A piece's pooled embeddings only (on a GPU, nothing else is read back).</summary>
    private float[] EmbedPiece(ReadOnlySpan<float> samples)
    {
        if (_gpu is null) return EncodePiece(samples).Pooled;
        var (mel, melFrames) = LogMel(samples);
        return _gpu.Embed(mel, melFrames, ChunkFrames);
    }

    private (float[] Mel, int Frames) LogMel(ReadOnlySpan<float> samples)
    {
        if (samples.Length == 0 || samples.Length > WhisperLogMel.PaddedSamples)
            throw new ArgumentException($"a piece holds 1 to {WhisperLogMel.PaddedSamples} samples (30 s at 16 kHz), not {samples.Length}", nameof(samples));
        return (_logMel.Compute(samples, _pool), WhisperLogMel.FrameCount(samples.Length));
    }

    public void Dispose()
    {
        _pool.Dispose();
        _gpu?.Dispose();
        _owned?.Dispose();
    }
}
