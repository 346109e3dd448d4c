using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>
/// The SigLIP encoder's weights in device memory, uploaded once in their file dtype (norms and biases as float32; a
/// weight the file stores transposed as float32, as the CPU reads it). Two widths are not whole 32-column units in
/// SigLIP-400M — the patch length 3·14·14 = 588 and the MLP width 4304 — so those float matrices are padded with
/// zeros: the convolution to <see cref="PatchLength"/> columns (the unfolded patches carry zeros there too), fc1 to
/// <see cref="Intermediate"/> rows (zero weights and bias give GELU(0) = 0) and fc2 to as many columns.
/// </summary>
internal sealed class GpuSiglipWeights : IDisposable
{
    public required FusedLinear PatchConvolution { get; init; }
    public required GpuMatrix PositionTable { get; init; }
    public required GpuEncoderLayer[] Layers { get; init; }
    public required Buffer PostNormWeight { get; init; }
    public required Buffer PostNormBias { get; init; }

    /// <summary>Columns of an unfolded patch row: 3·p·p rounded up to whole 32-column units.</summary>
    public required int PatchLength { get; init; }

    /// <summary>The MLP width rounded up to whole 32-column units.</summary>
    public required int Intermediate { get; init; }

    public long Bytes => AllLinears.Sum(l => l.WeightBytes) + PositionTable.Bytes;

    private IEnumerable<FusedLinear> AllLinears =>
        Layers.SelectMany(l => l.Linears).Append(PatchConvolution);

    public static int RoundUp32(int n) => (n + 31) / 32 * 32;

    public static GpuSiglipWeights Upload(GpuDevice device, Checkpoint checkpoint, VisionConfig vision)
    {
        var w = new TowerWeights(checkpoint);
        int hidden = vision.HiddenSize, ffn = vision.IntermediateSize, p = vision.PatchSize, side = vision.PositionGridSide;
        int patchLength = RoundUp32(3 * p * p), intermediate = RoundUp32(ffn);
        var uploader = new GpuWeightUploader(device, w.SourcePath);

        Buffer Vector(string name, int length) => device.Upload<float>(w.Vector(name, length));
        FusedLinear Linear(string weight, string bias, int rows, int cols, int paddedRows = 0, int paddedCols = 0) =>
            uploader.Linear([w.HostRows(weight, rows, cols)], [w.Vector(bias, rows)], paddedRows, paddedCols);

        var layers = new GpuEncoderLayer[vision.LayersUsed];
        for (int i = 0; i < layers.Length; i++)
        {
            string N(string part) => WeightNames.Vision(i, part);
            var qkv = new[] { "attn_q", "attn_k", "attn_v" };
            layers[i] = new GpuEncoderLayer(
                Vector(N("ln1.weight"), hidden), Vector(N("ln1.bias"), hidden),
                uploader.Linear(qkv.Select(x => w.HostRows(N(x + ".weight"), hidden, hidden)).ToArray(),
                    qkv.Select(x => w.Vector(N(x + ".bias"), hidden)).ToArray()),
                Linear(N("attn_out.weight"), N("attn_out.bias"), hidden, hidden),
                Vector(N("ln2.weight"), hidden), Vector(N("ln2.bias"), hidden),
                // Engine names: ffn_up is HF fc1 (hidden → intermediate), ffn_down is fc2.
                Linear(N("ffn_up.weight"), N("ffn_up.bias"), ffn, hidden, paddedRows: intermediate),
                Linear(N("ffn_down.weight"), N("ffn_down.bias"), hidden, ffn, paddedCols: intermediate));
        }

        var convolution = w.HostConvolution("vision.patch_embd.weight", hidden, 3, p);
        return new GpuSiglipWeights
        {
            PatchConvolution = uploader.Linear([convolution], [w.Vector("vision.patch_embd.bias", hidden)], paddedCols: patchLength),
            PositionTable = uploader.Matrix(w.HostRows("vision.position_embd.weight", side * side, hidden)),
            Layers = layers,
            PostNormWeight = Vector("vision.post_ln.weight", hidden),
            PostNormBias = Vector("vision.post_ln.bias", hidden),
            PatchLength = patchLength,
            Intermediate = intermediate,
        };
    }

    /// <summary>
    /// Random weights of <paramref name="type"/> (a float type, as SigLIP's unpadded widths need) for every matrix,
    /// filled on the device (benchmarks). Norm weights 1, biases 0.
    /// </summary>
    public static GpuSiglipWeights Random(VisionConfig vision, RandomDeviceWeights random)
    {
        int hidden = vision.HiddenSize, side = vision.PositionGridSide;
        int patchLength = RoundUp32(3 * vision.PatchSize * vision.PatchSize), intermediate = RoundUp32(vision.IntermediateSize);
        var layers = new GpuEncoderLayer[vision.LayersUsed];
        for (int i = 0; i < layers.Length; i++)
            layers[i] = new GpuEncoderLayer(random.Filled(hidden, 1), random.Filled(hidden, 0),
                random.Linear(3 * hidden, hidden), random.Linear(hidden, hidden),
                random.Filled(hidden, 1), random.Filled(hidden, 0), random.Linear(intermediate, hidden), random.Linear(hidden, intermediate));
        return new GpuSiglipWeights
        {
            PatchConvolution = random.Linear(hidden, patchLength),
            PositionTable = random.Matrix(side * side, hidden),
            Layers = layers,
            PostNormWeight = random.Filled(hidden, 1),
            PostNormBias = random.Filled(hidden, 0),
            PatchLength = patchLength,
            Intermediate = intermediate,
        };
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
        PatchConvolution.Dispose();
        PositionTable.Dispose();
        PostNormWeight.Dispose();
        PostNormBias.Dispose();
    }
}
