using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>One decoder layer on the device: the fused q|k|v and gate|up projections, o and down, two norms.</summary>
internal sealed record Qwen2GpuLayer(
    MemoryBuffer1D<float, Stride1D.Dense> AttentionNorm, FusedLinear QueryKeyValue, FusedLinear AttentionOutput,
    MemoryBuffer1D<float, Stride1D.Dense> MlpNorm, FusedLinear GateUp, FusedLinear Down);

/// <summary>
/// The decoder's weights in device memory, uploaded once in their file dtype (norms and biases as float32), or
/// generated on the device for benchmarks (<see cref="Random"/>).
/// </summary>
internal sealed class Qwen2GpuWeights : IDisposable
{
    public required GpuMatrix TokenEmbedding { get; init; }
    public required Qwen2GpuLayer[] Layers { get; init; }
    public required MemoryBuffer1D<float, Stride1D.Dense> OutputNorm { get; init; }
    public required FusedLinear Output { get; init; }

    /// <summary>Bytes of every matrix one decode step reads (all layers and the lm_head; not the embedding table).</summary>
    /// <summary>Every projection matrix (layers and lm_head).</summary>
    public IEnumerable<GpuMatrix> AllMatrices =>
        Layers.SelectMany(l => l.QueryKeyValue.Matrices.Concat(l.AttentionOutput.Matrices).Concat(l.GateUp.Matrices).Concat(l.Down.Matrices))
            .Concat(Output.Matrices);

    public long DecodeWeightBytes =>
        Layers.Sum(l => l.QueryKeyValue.WeightBytes + l.AttentionOutput.WeightBytes + l.GateUp.WeightBytes + l.Down.WeightBytes)
        + Output.WeightBytes;

    public static unsafe Qwen2GpuWeights Upload(GpuDevice device, Checkpoint checkpoint, LlmConfig config)
    {
        var file = checkpoint.Tensors;
        var map = checkpoint.Weights;
        string path = checkpoint.SourcePath;
        int hidden = config.HiddenSize, kvWidth = config.KvHeads * config.HeadDim, ffn = config.IntermediateSize;

        GpuMatrix Matrix(WeightSource source, int rows, int cols)
        {
            var view = Linear.MapMatrix(file, source, rows, cols, forMatMul: false);
            if (!GpuMatrix.IsSupported(view.Type)) throw new UnsupportedWeightTypeException(source.InternalName, view.Type, "GPU");
            if (GpuMatrix.ShapeProblem(view.Type, cols) is { } problem)
                throw new ModelFormatException(path, $"weight '{source.InternalName}': {problem}", source.Tensor.Name);
            if (view.RowStrideBytes != view.RowBytes)
                throw new ModelFormatException(path, $"weight '{source.InternalName}' has padded rows, which the GPU upload does not read", source.Tensor.Name);
            return GpuMatrix.Upload(device, view.Type, new ReadOnlySpan<byte>(view.Data, checked((int)view.TotalBytes)), rows, cols);
        }

        MemoryBuffer1D<float, Stride1D.Dense> Vector(WeightSource source, int length)
        {
            var values = WeightReader.ReadAll(file, source);
            if (values.Length != length)
                throw new ModelFormatException(path, $"weight '{source.InternalName}' has {values.Length} values; {length} expected", source.Tensor.Name);
            return device.Upload<float>(values);
        }

        // Parts of one projection: consecutive parts of the same dtype are joined into one device matrix.
        FusedLinear Fused(int layer, (string Part, int Rows, bool Bias)[] parts)
        {
            WeightSource W(string name) => map.Require(WeightNames.Llm(layer, name), path);
            var views = parts.Select(p => Linear.MapMatrix(file, W(p.Part + ".weight"), p.Rows, ColsOf(p.Part), forMatMul: false)).ToArray();
            var result = new List<(GpuMatrix, int)>();
            int offset = 0;
            for (int start = 0; start < parts.Length;)
            {
                int end = start + 1;
                while (end < parts.Length && views[end].Type == views[start].Type) end++;
                var type = views[start].Type;
                int cols = views[start].Cols;
                if (!GpuMatrix.IsSupported(type)) throw new UnsupportedWeightTypeException(WeightNames.Llm(layer, parts[start].Part), type, "GPU");
                if (GpuMatrix.ShapeProblem(type, cols) is { } problem) throw new ModelFormatException(path, $"layer {layer} {parts[start].Part}: {problem}");
                int rows = 0;
                long bytes = 0;
                for (int i = start; i < end; i++)
                {
                    rows += views[i].Rows;
                    bytes += views[i].TotalBytes;
                }
                var joined = new byte[bytes];
                long at = 0;
                for (int i = start; i < end; i++)
                {
                    if (views[i].RowStrideBytes != views[i].RowBytes)
                        throw new ModelFormatException(path, $"layer {layer} {parts[i].Part} has padded rows, which the GPU upload does not read");
                    new ReadOnlySpan<byte>(views[i].Data, checked((int)views[i].TotalBytes)).CopyTo(joined.AsSpan((int)at));
                    at += views[i].TotalBytes;
                }
                result.Add((GpuMatrix.Upload(device, type, joined, rows, cols), offset));
                offset += rows;
                start = end;
            }

            MemoryBuffer1D<float, Stride1D.Dense>? bias = null;
            if (parts.Any(p => p.Bias))
            {
                var values = new float[offset];
                int at = 0;
                foreach (var (part, rows, hasBias) in parts)
                {
                    if (hasBias)
                    {
                        var b = WeightReader.ReadAll(file, W(part + ".bias"));
                        if (b.Length != rows) throw new ModelFormatException(path, $"bias of layer {layer} {part} has {b.Length} values; {rows} expected");
                        b.CopyTo(values, at);
                    }
                    at += rows;
                }
                bias = device.Upload<float>(values);
            }
            return new FusedLinear(result.ToArray(), bias);
        }

        int ColsOf(string part) => part == "ffn_down" ? ffn : hidden;

        var embedding = map.Require(WeightNames.TokenEmbedding, path);
        int vocab = checked((int)embedding.Shape[0]);
        var layers = new Qwen2GpuLayer[config.Layers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = new Qwen2GpuLayer(
                AttentionNorm: Vector(map.Require(WeightNames.Llm(i, "attn_norm.weight"), path), hidden),
                QueryKeyValue: Fused(i, [("attn_q", hidden, true), ("attn_k", kvWidth, true), ("attn_v", kvWidth, true)]),
                AttentionOutput: Fused(i, [("attn_output", hidden, false)]),
                MlpNorm: Vector(map.Require(WeightNames.Llm(i, "ffn_norm.weight"), path), hidden),
                GateUp: Fused(i, [("ffn_gate", ffn, false), ("ffn_up", ffn, false)]),
                Down: Fused(i, [("ffn_down", hidden, false)]));
        }

        var head = config.TieWordEmbeddings ? embedding : map.Require(WeightNames.Output, path);
        return new Qwen2GpuWeights
        {
            TokenEmbedding = Matrix(embedding, vocab, hidden),
            Layers = layers,
            OutputNorm = Vector(map.Require(WeightNames.OutputNorm, path), hidden),
            Output = new FusedLinear([(Matrix(head, checked((int)head.Shape[0]), hidden), 0)], null),
        };
    }

    /// <summary>
    /// Random weights of <paramref name="type"/> for every matrix (embedding too), filled on the device: a model of any
    /// shape without a file, for benchmarks. Norm weights are 1, biases 0.
    /// </summary>
    public static Qwen2GpuWeights Random(GpuDevice device, LlmConfig config, TensorType type, uint seed = 1)
    {
        int hidden = config.HiddenSize, kvWidth = config.KvHeads * config.HeadDim, ffn = config.IntermediateSize;
        uint next = seed;
        GpuMatrix Matrix(int rows, int cols)
        {
            var m = GpuMatrix.Allocate(device, type, rows, cols);
            m.Randomize(device, next++ * 2654435761u);
            return m;
        }
        MemoryBuffer1D<float, Stride1D.Dense> Filled(int length, float value)
        {
            var values = new float[length];
            Array.Fill(values, value);
            return device.Upload<float>(values);
        }

        var layers = new Qwen2GpuLayer[config.Layers];
        for (int i = 0; i < layers.Length; i++)
            layers[i] = new Qwen2GpuLayer(
                Filled(hidden, 1f),
                new FusedLinear([(Matrix(hidden + 2 * kvWidth, hidden), 0)], Filled(hidden + 2 * kvWidth, 0f)),
                new FusedLinear([(Matrix(hidden, hidden), 0)], null),
                Filled(hidden, 1f),
                new FusedLinear([(Matrix(2 * ffn, hidden), 0)], null),
                new FusedLinear([(Matrix(hidden, ffn), 0)], null));
        return new Qwen2GpuWeights
        {
            TokenEmbedding = Matrix(config.VocabSize, hidden),
            Layers = layers,
            OutputNorm = Filled(hidden, 1f),
            Output = new FusedLinear([(Matrix(config.VocabSize, hidden), 0)], null),
        };
    }

    public void Dispose()
    {
        TokenEmbedding.Dispose();
        foreach (var l in Layers)
        {
            l.AttentionNorm.Dispose();
            l.QueryKeyValue.Dispose();
            l.AttentionOutput.Dispose();
            l.MlpNorm.Dispose();
            l.GateUp.Dispose();
            l.Down.Dispose();
        }
        OutputNorm.Dispose();
        Output.Dispose();
    }
}
