using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>One decoder layer: the attention block and the SwiGLU MLP, each behind its RMSNorm.</summary>
internal sealed record Qwen2LayerWeights(
    float[] AttentionNorm, Linear Query, Linear Key, Linear Value, Linear AttentionOutput,
    float[] MlpNorm, Linear Gate, Linear Up, Linear Down)
{
    /// <summary>q, k and v read the same normed input: one shared call per decode step.</summary>
    public SharedInputLinears QueryKeyValue { get; } = new(Query, Key, Value);

    /// <summary>The MLP's gate and up read the same normed input: one shared call per decode step.</summary>
    public SharedInputLinears GateUp { get; } = new(Gate, Up);
}

/// <summary>
/// The decoder's weights, checked against the configuration: matrices are views of the memory-mapped file in their
/// stored dtype; norm weights and biases (a few KiB per layer) are read to float32 once.
/// </summary>
internal sealed class Qwen2Weights
{
    public required WeightMatrix TokenEmbedding { get; init; }
    public required Qwen2LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }
    /// <summary>lm_head; the embedding table itself when the embeddings are tied.</summary>
    public required Linear Output { get; init; }

    public static Qwen2Weights Load(Checkpoint checkpoint, LlmConfig config)
    {
        var file = checkpoint.Tensors;
        var map = checkpoint.Weights;
        string path = checkpoint.SourcePath;
        int hidden = config.HiddenSize, kvWidth = config.KvHeads * config.HeadDim, ffn = config.IntermediateSize;

        var embedding = map.Require(WeightNames.TokenEmbedding, path);
        int vocab = checked((int)embedding.Shape[0]);
        var embeddingMatrix = Linear.MapMatrix(file, embedding, vocab, hidden, forMatMul: false);

        var layers = new Qwen2LayerWeights[config.Layers];
        for (int i = 0; i < layers.Length; i++)
        {
            WeightSource W(string part) => map.Require(WeightNames.Llm(i, part), path);
            Linear Matrix(string part, int rows, int cols, bool bias = false) =>
                Linear.Load(file, W(part + ".weight"), bias ? W(part + ".bias") : null, rows, cols);

            layers[i] = new Qwen2LayerWeights(
                AttentionNorm: Vector(file, W("attn_norm.weight"), hidden),
                Query: Matrix("attn_q", hidden, hidden, bias: true),
                Key: Matrix("attn_k", kvWidth, hidden, bias: true),
                Value: Matrix("attn_v", kvWidth, hidden, bias: true),
                AttentionOutput: Matrix("attn_output", hidden, hidden),
                MlpNorm: Vector(file, W("ffn_norm.weight"), hidden),
                Gate: Matrix("ffn_gate", ffn, hidden),
                Up: Matrix("ffn_up", ffn, hidden),
                Down: Matrix("ffn_down", hidden, ffn));
        }

        Linear output;
        if (config.TieWordEmbeddings)
            output = Linear.Load(file, embedding, null, vocab, hidden);
        else
        {
            var head = map.Require(WeightNames.Output, path);
            output = Linear.Load(file, head, null, checked((int)head.Shape[0]), hidden);
        }

        return new Qwen2Weights
        {
            TokenEmbedding = embeddingMatrix,
            Layers = layers,
            OutputNorm = Vector(file, map.Require(WeightNames.OutputNorm, path), hidden),
            Output = output,
        };
    }

    private static float[] Vector(ITensorFile file, WeightSource weight, int length)
    {
        var shape = weight.Shape;
        if (shape.Length != 1 || shape[0] != length)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' has shape [{string.Join(", ", shape)}]; [{length}] expected", weight.Tensor.Name);
        return WeightReader.ReadAll(file, weight);
    }
}
