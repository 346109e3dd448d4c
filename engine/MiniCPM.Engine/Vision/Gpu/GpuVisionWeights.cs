using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>One SigLIP layer on the device: two LayerNorms, the fused q|k|v projection, out, fc1 (up) and fc2 (down).</summary>
internal sealed record GpuSiglipLayer(
    Buffer Norm1Weight, Buffer Norm1Bias, FusedLinear QueryKeyValue, FusedLinear Output,
    Buffer Norm2Weight, Buffer Norm2Bias, FusedLinear Up, FusedLinear Down);

/// <summary>
/// The vision tower's and resampler's weights in device memory, uploaded once in their file dtype (norms and biases as
/// float32; a weight the file stores transposed as float32, as the CPU reads it). Two widths are not whole 32-column
/// units in SigLIP-400M — the patch length 3·14·14 = 588 and the MLP width 4304 — so those float matrices are padded
/// with zeros: the convolution to <see cref="PatchLength"/> columns (the unfolded patches carry zeros there too), fc1
/// to <see cref="Intermediate"/> rows (zero weights and bias give GELU(0) = 0) and fc2 to as many columns. The
/// resampler's queries are image-independent: LN_q(query)·W_qᵀ + b_q is computed on the device at load.
/// </summary>
internal sealed class GpuVisionWeights : IDisposable
{
    public required FusedLinear PatchConvolution { get; init; }
    public required GpuMatrix PositionTable { get; init; }
    public required GpuSiglipLayer[] Layers { get; init; }
    public required Buffer PostNormWeight { get; init; }
    public required Buffer PostNormBias { get; init; }
    public required FusedLinear ResamplerKv { get; init; }
    public required Buffer KvNormWeight { get; init; }
    public required Buffer KvNormBias { get; init; }
    public required FusedLinear ResamplerKey { get; init; }
    public required FusedLinear ResamplerValue { get; init; }
    public required FusedLinear ResamplerOutput { get; init; }
    public required Buffer ResamplerPostNormWeight { get; init; }
    public required Buffer ResamplerPostNormBias { get; init; }
    public required FusedLinear Projection { get; init; }
    /// <summary>[Queries, D]: the projected learned queries.</summary>
    public required Buffer Queries { get; init; }

    /// <summary>Columns of an unfolded patch row: 3·p·p rounded up to whole 32-column units.</summary>
    public required int PatchLength { get; init; }

    /// <summary>The MLP width rounded up to whole 32-column units.</summary>
    public required int Intermediate { get; init; }

    public long Bytes => AllLinears.Sum(l => l.WeightBytes) + PositionTable.Bytes;

    private IEnumerable<FusedLinear> AllLinears =>
        Layers.SelectMany(l => new[] { l.QueryKeyValue, l.Output, l.Up, l.Down })
            .Concat([PatchConvolution, ResamplerKv, ResamplerKey, ResamplerValue, ResamplerOutput, Projection]);

    public static int RoundUp32(int n) => (n + 31) / 32 * 32;

    public static GpuVisionWeights Upload(GpuDevice device, Checkpoint checkpoint, VisionConfig vision, ResamplerConfig resampler)
    {
        var w = new TowerWeights(checkpoint);
        int hidden = vision.HiddenSize, ffn = vision.IntermediateSize, p = vision.PatchSize, side = vision.PositionGridSide;
        int d = resampler.EmbedDim, patchLength = RoundUp32(3 * p * p), intermediate = RoundUp32(ffn);
        var uploader = new Uploader(device, w.SourcePath);

        Buffer Vector(string name, int length) => device.Upload<float>(w.Vector(name, length));
        FusedLinear Linear(string weight, string? bias, int rows, int cols, int paddedRows = 0, int paddedCols = 0) =>
            uploader.Linear([w.HostRows(weight, rows, cols)], bias is null ? null : [w.Vector(bias, rows)], paddedRows, paddedCols);

        var layers = new GpuSiglipLayer[vision.LayersUsed];
        for (int i = 0; i < layers.Length; i++)
        {
            string N(string part) => WeightNames.Vision(i, part);
            var qkv = new[] { "attn_q", "attn_k", "attn_v" };
            layers[i] = new GpuSiglipLayer(
                Vector(N("ln1.weight"), hidden), Vector(N("ln1.bias"), hidden),
                uploader.Linear(qkv.Select(x => w.HostRows(N(x + ".weight"), hidden, hidden)).ToArray(),
                    qkv.Select(x => w.Vector(N(x + ".bias"), hidden)).ToArray()),
                Linear(N("attn_out.weight"), N("attn_out.bias"), hidden, hidden),
                Vector(N("ln2.weight"), hidden), Vector(N("ln2.bias"), hidden),
                // Engine names: ffn_up is HF fc1 (hidden → intermediate), ffn_down is fc2.
                Linear(N("ffn_up.weight"), N("ffn_up.bias"), ffn, hidden, paddedRows: intermediate),
                Linear(N("ffn_down.weight"), N("ffn_down.bias"), hidden, ffn, paddedCols: intermediate));
        }

        // The learned queries through ln_q and attn_q, once, on the device (attn_q is not kept).
        var queries = device.Upload<float>(w.Floats("resampler.query", resampler.Queries, d));
        var projected = device.Allocate<float>((long)resampler.Queries * d);
        using (var lnWeight = Vector("resampler.ln_q.weight", d))
        using (var lnBias = Vector("resampler.ln_q.bias", d))
        using (var attnQ = Linear("resampler.attn_q.weight", "resampler.attn_q.bias", d, d))
        {
            device.Kernels.LayerNorm(queries.View, resampler.Queries, lnWeight.View, lnBias.View, Resampler.Eps, queries.View);
            attnQ.Apply(device.Kernels, queries.View, resampler.Queries, projected.View);
            device.Synchronize();
        }
        queries.Dispose();

        var convolution = w.HostConvolution("vision.patch_embd.weight", hidden, 3, p);
        return new GpuVisionWeights
        {
            PatchConvolution = uploader.Linear([convolution], [w.Vector("vision.patch_embd.bias", hidden)], paddedCols: patchLength),
            PositionTable = uploader.Matrix(w.HostRows("vision.position_embd.weight", side * side, hidden)),
            Layers = layers,
            PostNormWeight = Vector("vision.post_ln.weight", hidden),
            PostNormBias = Vector("vision.post_ln.bias", hidden),
            ResamplerKv = Linear("resampler.kv.weight", null, d, resampler.KvDim),
            KvNormWeight = Vector("resampler.ln_kv.weight", d),
            KvNormBias = Vector("resampler.ln_kv.bias", d),
            ResamplerKey = Linear("resampler.attn_k.weight", "resampler.attn_k.bias", d, d),
            ResamplerValue = Linear("resampler.attn_v.weight", "resampler.attn_v.bias", d, d),
            ResamplerOutput = Linear("resampler.attn_out.weight", "resampler.attn_out.bias", d, d),
            ResamplerPostNormWeight = Vector("resampler.ln_post.weight", d),
            ResamplerPostNormBias = Vector("resampler.ln_post.bias", d),
            Projection = Linear("resampler.proj.weight", null, d, d),
            Queries = projected,
            PatchLength = patchLength,
            Intermediate = intermediate,
        };
    }

    /// <summary>
    /// Random weights of <paramref name="type"/> (a float type, as SigLIP's unpadded widths need) for every matrix,
    /// filled on the device: a tower of any shape without a file, for benchmarks. Norm weights 1, biases 0, queries
    /// small random values.
    /// </summary>
    public static GpuVisionWeights Random(GpuDevice device, VisionConfig vision, ResamplerConfig resampler, TensorType type, uint seed = 1)
    {
        if (type is not (TensorType.F32 or TensorType.F16 or TensorType.BF16))
            throw new ArgumentException($"random vision weights are F32, F16 or BF16, not {type}", nameof(type));
        int hidden = vision.HiddenSize, d = resampler.EmbedDim, side = vision.PositionGridSide;
        int patchLength = RoundUp32(3 * vision.PatchSize * vision.PatchSize), intermediate = RoundUp32(vision.IntermediateSize);
        uint next = seed;
        GpuMatrix Matrix(int rows, int cols)
        {
            var m = GpuMatrix.Allocate(device, type, rows, cols);
            m.Randomize(device, next++ * 2654435761u);
            return m;
        }
        Buffer Filled(int length, float value)
        {
            var values = new float[length];
            Array.Fill(values, value);
            return device.Upload<float>(values);
        }
        FusedLinear Linear(int rows, int cols, bool bias = true) => new([(Matrix(rows, cols), 0)], bias ? Filled(rows, 0) : null);

        var layers = new GpuSiglipLayer[vision.LayersUsed];
        for (int i = 0; i < layers.Length; i++)
            layers[i] = new GpuSiglipLayer(Filled(hidden, 1), Filled(hidden, 0), Linear(3 * hidden, hidden), Linear(hidden, hidden),
                Filled(hidden, 1), Filled(hidden, 0), Linear(intermediate, hidden), Linear(hidden, intermediate));
        var random = new Random((int)seed);
        var queries = new float[resampler.Queries * d];
        for (int i = 0; i < queries.Length; i++) queries[i] = (float)(random.NextDouble() - 0.5);
        return new GpuVisionWeights
        {
            PatchConvolution = Linear(hidden, patchLength),
            PositionTable = Matrix(side * side, hidden),
            Layers = layers,
            PostNormWeight = Filled(hidden, 1),
            PostNormBias = Filled(hidden, 0),
            ResamplerKv = Linear(d, resampler.KvDim, bias: false),
            KvNormWeight = Filled(d, 1),
            KvNormBias = Filled(d, 0),
            ResamplerKey = Linear(d, d),
            ResamplerValue = Linear(d, d),
            ResamplerOutput = Linear(d, d),
            ResamplerPostNormWeight = Filled(d, 1),
            ResamplerPostNormBias = Filled(d, 0),
            Projection = Linear(d, d, bias: false),
            Queries = device.Upload<float>(queries),
            PatchLength = patchLength,
            Intermediate = intermediate,
        };
    }

    public void Dispose()
    {
        foreach (var linear in AllLinears) linear.Dispose();
        foreach (var layer in Layers) { layer.Norm1Weight.Dispose(); layer.Norm1Bias.Dispose(); layer.Norm2Weight.Dispose(); layer.Norm2Bias.Dispose(); }
        PositionTable.Dispose();
        PostNormWeight.Dispose(); PostNormBias.Dispose(); KvNormWeight.Dispose(); KvNormBias.Dispose();
        ResamplerPostNormWeight.Dispose(); ResamplerPostNormBias.Dispose(); Queries.Dispose();
    }

    /// <summary>Host matrices to device matrices: dtype and shape checks, zero padding, same-dtype parts joined.</summary>
    private sealed class Uploader(GpuDevice device, string path)
    {
        /// <summary>
        /// Parts stacked by rows into one projection (q|k|v) with their biases (null: none); consecutive parts of one
        /// dtype become one device matrix. A single part may be zero-padded to <paramref name="paddedRows"/> rows
        /// and <paramref name="paddedCols"/> columns (0: unpadded).
        /// </summary>
        public FusedLinear Linear(HostMatrix[] parts, float[][]? biases, int paddedRows = 0, int paddedCols = 0)
        {
            int cols = paddedCols > 0 ? paddedCols : parts[0].Cols;
            var matrices = new List<(GpuMatrix, int)>();
            int offset = 0;
            for (int start = 0; start < parts.Length;)
            {
                int end = start + 1;
                while (end < parts.Length && parts[end].Type == parts[start].Type) end++;
                var run = parts[start..end];
                var joined = run.Length == 1 ? run[0]
                    : new HostMatrix(run[0].Name, run[0].Type, run.Sum(m => m.Rows), run[0].Cols, run.SelectMany(m => m.Bytes).ToArray());
                int rows = paddedRows > 0 && parts.Length == 1 ? paddedRows : joined.Rows;
                matrices.Add((Matrix(joined, rows, cols), offset));
                offset += rows;
                start = end;
            }
            Buffer? bias = null;
            if (biases is not null)
            {
                var values = new float[offset]; // padding rows get bias 0
                int at = 0;
                for (int i = 0; i < parts.Length; i++)
                {
                    biases[i].CopyTo(values, at);
                    at += parts[i].Rows;
                }
                bias = device.Upload<float>(values);
            }
            return new FusedLinear(matrices.ToArray(), bias);
        }

        public GpuMatrix Matrix(HostMatrix m) => Matrix(m, m.Rows, m.Cols);

        private GpuMatrix Matrix(HostMatrix m, int rows, int cols)
        {
            if (!GpuMatrix.IsSupported(m.Type)) throw new UnsupportedWeightTypeException(m.Name, m.Type, "GPU");
            if (rows == m.Rows && cols == m.Cols)
            {
                if (GpuMatrix.ShapeProblem(m.Type, cols) is { } problem)
                    throw new GpuUnavailableException(device.Name, $"weight '{m.Name}' in {path}: {problem}; use --device cpu");
                return GpuMatrix.Upload(device, m.Type, m.Bytes, rows, cols);
            }
            // Only float rows pad by appending zero values (a quantized row's blocks cannot be split).
            int size = m.Type switch { TensorType.F32 => 4, TensorType.F16 or TensorType.BF16 => 2, _ => 0 };
            if (size == 0 || GpuMatrix.ShapeProblem(m.Type, cols) is not null)
                throw new GpuUnavailableException(device.Name,
                    $"weight '{m.Name}' in {path} is {m.Type} with {m.Cols} columns, which the GPU kernels cannot pad to whole 32-column units; use --device cpu");
            var padded = new byte[checked((long)rows * cols * size)];
            for (int r = 0; r < m.Rows; r++)
                m.Bytes.AsSpan(r * m.Cols * size, m.Cols * size).CopyTo(padded.AsSpan(r * cols * size));
            return GpuMatrix.Upload(device, m.Type, padded, rows, cols);
        }
    }
}
