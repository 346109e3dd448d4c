using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// What a <see cref="Qwen2GpuModel"/> will hold on its device, known before anything is uploaded: the weights as the
/// GPU stores them, the KV cache and the RoPE tables. <see cref="Check"/> compares it with the device's free memory,
/// so a model too large for the device fails at once with its parts named, not gigabytes into the upload. Not planned
/// (under 0.1% at the 7B shape): the decoder's fixed buffers (split-K attention scratch, int8 activation blocks:
/// ~8 MB at 7B) and the working buffers a pass makes when it needs them (a few MB for a decode step, about n × 0.3 MB
/// for a prompt of n tokens at 7B). A refusal there is a <see cref="GpuOutOfMemoryException"/> too, and the load rolls
/// back; a plan that passes within that margin of the limit costs an upload, not a wrong answer.
/// </summary>
internal sealed record Qwen2GpuMemoryPlan(long WeightBytes, long KvCacheBytes, long KvCacheTokens, long RopeTableBytes)
{
    public long TotalBytes => WeightBytes + KvCacheBytes + RopeTableBytes;

    public const string Advice = "Use a smaller quantization of the model (Q4_0 or Q4_K_M GGUF weights take under a third of F16's), " +
        "a smaller KV cache (--kv-tokens, KvCacheTokens), or --device cpu.";

    /// <summary>The plan for <paramref name="config"/> with each matrix's dtype from <paramref name="typeOf"/>
    /// (by internal weight name) and <paramref name="vocab"/> embedding rows.</summary>
    public static Qwen2GpuMemoryPlan For(LlmConfig config, Qwen2GpuOptions options, int vocab, Func<string, TensorType> typeOf)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.KvCacheTokens, 1, nameof(options.KvCacheTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.KvBlockSize, 1, nameof(options.KvBlockSize));
        int hidden = config.HiddenSize, kvWidth = config.KvHeads * config.HeadDim, ffn = config.IntermediateSize;
        long weights = 0;
        void Matrix(string name, int rows, int cols) => weights += GpuMatrix.DeviceBytes(typeOf(name), rows, cols) ?? 0;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            string N(string part) => WeightNames.Llm(layer, part + ".weight");
            Matrix(N("attn_q"), hidden, hidden);
            Matrix(N("attn_k"), kvWidth, hidden);
            Matrix(N("attn_v"), kvWidth, hidden);
            Matrix(N("attn_output"), hidden, hidden);
            Matrix(N("ffn_gate"), ffn, hidden);
            Matrix(N("ffn_up"), ffn, hidden);
            Matrix(N("ffn_down"), hidden, ffn);
            weights += 4L * (2 * hidden + hidden + 2 * kvWidth); // two norms, the q|k|v bias
        }
        Matrix(WeightNames.TokenEmbedding, vocab, hidden);
        Matrix(config.TieWordEmbeddings ? WeightNames.TokenEmbedding : WeightNames.Output, vocab, hidden);
        weights += 4L * hidden; // the final norm

        long blocks = DeviceKvCache.Blocks(options.KvCacheTokens, options.KvBlockSize);
        long tokens = blocks * options.KvBlockSize;
        long kvCache = 2L * config.Layers * tokens * kvWidth * sizeof(float);
        long positions = Math.Min(config.MaxPositions, tokens);
        long rope = 2 * positions * (config.HeadDim / 2) * sizeof(float);
        return new Qwen2GpuMemoryPlan(weights, kvCache, tokens, rope);
    }

    /// <summary>The plan for a checkpoint's weights (unsupported dtypes count 0 here; the upload names them).</summary>
    public static Qwen2GpuMemoryPlan For(Checkpoint checkpoint, LlmConfig config, Qwen2GpuOptions options)
    {
        var map = checkpoint.Weights;
        var embedding = map.Require(WeightNames.TokenEmbedding, checkpoint.SourcePath);
        return For(config, options, checked((int)embedding.Shape[0]), name => map.Require(name, checkpoint.SourcePath).Tensor.Type);
    }

    /// <exception cref="GpuOutOfMemoryException">The plan needs more than the device has available.</exception>
    public void Check(GpuDevice device)
    {
        if (device.AvailableBytes is { } available && TotalBytes > available)
            throw new GpuOutOfMemoryException(device.Name, $"this language model ({this})", TotalBytes, available, Advice);
    }

    public override string ToString() =>
        $"weights {ByteSize.Format(WeightBytes)}, KV cache {ByteSize.Format(KvCacheBytes)} for {KvCacheTokens} tokens, " +
        $"RoPE tables {ByteSize.Format(RopeTableBytes)}";
}
