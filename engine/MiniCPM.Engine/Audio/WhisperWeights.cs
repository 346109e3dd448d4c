using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Audio;

/// <summary>One pre-LN Whisper encoder layer's weights (k_proj has no bias in Whisper).</summary>
internal sealed record WhisperLayerWeights(
    float[] AttentionNormWeight, float[] AttentionNormBias,
    Linear Query, Linear Key, Linear Value, Linear Output,
    float[] FfnNormWeight, float[] FfnNormBias,
    Linear Up, Linear Down);

/// <summary>
/// MiniCPM-o's Whisper encoder (`audio.*` internal names, HF `apm.*`) and audio projection (`audio_proj.*`, HF
/// `audio_projection_layer.*`). Matrices stay in the file (memory-mapped, stored dtype); norms, biases and the position
/// table are read to float32. Every shape is checked against the configuration.
/// </summary>
internal sealed class WhisperWeights
{
    public required AudioConfig Config { get; init; }
    public required WeightMatrix Conv1 { get; init; }
    public required float[] Conv1Bias { get; init; }
    public required WeightMatrix Conv2 { get; init; }
    public required float[] Conv2Bias { get; init; }
    /// <summary>[MaxSourcePositions, DModel].</summary>
    public required float[] Positions { get; init; }
    public required IReadOnlyList<WhisperLayerWeights> Layers { get; init; }
    public required float[] FinalNormWeight { get; init; }
    public required float[] FinalNormBias { get; init; }
    public required Linear Projection1 { get; init; }
    public required Linear Projection2 { get; init; }

    /// <summary>Width of the projected embeddings (the LLM hidden size).</summary>
    public int EmbeddingWidth => Projection2.Outputs;

    /// <summary>The audio encoder's config: the check every encoder (CPU and GPU) makes before loading.</summary>
    /// <exception cref="ModelFormatException">The checkpoint has no audio encoder.</exception>
    public static AudioConfig RequireAudio(Checkpoint checkpoint) => checkpoint.Config.Audio
        ?? throw new ModelFormatException(checkpoint.SourcePath, "the checkpoint has no audio encoder (not MiniCPM-o, or init_audio is false)");

    public static WhisperWeights Load(Checkpoint checkpoint)
    {
        var config = RequireAudio(checkpoint);
        var file = checkpoint.Tensors;
        var map = checkpoint.Weights;
        string path = checkpoint.SourcePath;
        int d = config.DModel, ffn = config.FfnDim;
        WeightSource Need(string name) => map.Require(name, path);
        float[] Vector(string name, int length)
        {
            var values = WeightReader.ReadAll(file, Need(name));
            if (values.Length != length) throw new ModelFormatException(path, $"'{name}' has {values.Length} values; {length} expected", Need(name).Tensor.Name);
            return values;
        }
        Linear Dense(string prefix, int rows, int cols, bool bias = true) =>
            Linear.Load(file, Need(prefix + ".weight"), bias ? Need(prefix + ".bias") : null, rows, cols);

        var layers = new List<WhisperLayerWeights>();
        for (int i = 0; i < config.Layers; i++)
        {
            string P(string part) => WeightNames.Audio(i, part);
            layers.Add(new WhisperLayerWeights(
                Vector(P("ln1.weight"), d), Vector(P("ln1.bias"), d),
                Dense(P("attn_q"), d, d), Dense(P("attn_k"), d, d, bias: map.Find(P("attn_k.bias")) is not null), Dense(P("attn_v"), d, d), Dense(P("attn_out"), d, d),
                Vector(P("ln2.weight"), d), Vector(P("ln2.bias"), d),
                Dense(P("ffn_up"), ffn, d), Dense(P("ffn_down"), d, ffn)));
        }
        var projection1 = Linear.Load(file, Need("audio_proj.linear1.weight"), Need("audio_proj.linear1.bias"),
            checked((int)Need("audio_proj.linear1.weight").Shape[0]), d);
        int width = projection1.Outputs;
        if (checkpoint.Config.Llm is { } llm && llm.HiddenSize != width)
            throw new ModelFormatException(path, $"the audio projection gives {width}-wide embeddings; the LLM hidden size is {llm.HiddenSize}");

        return new WhisperWeights
        {
            Config = config,
            Conv1 = MapConv(file, Need("audio.conv1.weight"), d, config.MelBins, path),
            Conv1Bias = Vector("audio.conv1.bias", d),
            Conv2 = MapConv(file, Need("audio.conv2.weight"), d, d, path),
            Conv2Bias = Vector("audio.conv2.bias", d),
            Positions = ReadPositions(file, Need("audio.position_embd.weight"), config, path),
            Layers = layers,
            FinalNormWeight = Vector("audio.post_ln.weight", d),
            FinalNormBias = Vector("audio.post_ln.bias", d),
            Projection1 = projection1,
            Projection2 = Linear.Load(file, Need("audio_proj.linear2.weight"), Need("audio_proj.linear2.bias"), width, width),
        };
    }

    /// <summary>A Conv1d weight [out, in, 3] viewed as the [out, in·3] matrix that multiplies im2col rows.</summary>
    private static unsafe WeightMatrix MapConv(ITensorFile file, WeightSource weight, int outChannels, int inChannels, string path)
    {
        var shape = weight.Shape;
        if (shape is not [var o, var c, 3] || o != outChannels || c != inChannels)
            throw new ModelFormatException(path, $"'{weight.InternalName}' has shape [{string.Join(", ", shape)}]; [{outChannels}, {inChannels}, 3] expected", weight.Tensor.Name);
        if (!Linear.IsSupported(weight.Tensor.Type))
            throw new UnsupportedWeightTypeException(weight.InternalName, weight.Tensor.Type, "CPU");
        long rowBytes = WeightReader.RowBytes(weight);
        var bytes = file.GetData(weight.Tensor).Slice(0, outChannels * rowBytes);
        return new WeightMatrix(weight.Tensor.Type, bytes.Pointer, outChannels, inChannels * 3, rowBytes);
    }

    private static float[] ReadPositions(ITensorFile file, WeightSource weight, AudioConfig config, string path)
    {
        if (weight.Shape is not [var rows, var cols] || cols != config.DModel || rows < 1)
            throw new ModelFormatException(path, $"'{weight.InternalName}' has shape [{string.Join(", ", weight.Shape)}]; [positions, {config.DModel}] expected", weight.Tensor.Name);
        return WeightReader.ReadAll(file, weight);
    }
}
