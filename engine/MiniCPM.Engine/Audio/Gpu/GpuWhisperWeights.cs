using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Audio.Gpu;

/// <summary>
/// MiniCPM-o's Whisper encoder and audio projection in device memory: matrices in their file dtype, norms, biases and
/// the position table as float32 (k_proj's missing bias as zeros). The shapes are checked by the CPU loader
/// (<see cref="WhisperWeights"/>) first, so both backends refuse the same files with the same errors. Widths that are
/// not whole 32-column units are zero-padded as the GPU kernels need: conv1's im2col rows (80 mel bins × 3 taps = 240
/// → 256, the unfolded rows carry zeros there too) and the MLP width (fc1 rows, fc2 columns).
/// </summary>
internal sealed class GpuWhisperWeights : IDisposable
{
    /// <summary>conv1 as [d, <see cref="Conv1Columns"/>], conv2 as [d, 3·d] (im2col rows in (channel, tap) order).</summary>
    public required FusedLinear Conv1 { get; init; }
    public required FusedLinear Conv2 { get; init; }
    /// <summary>embed_positions [<see cref="PositionRows"/>, d].</summary>
    public required Buffer Positions { get; init; }
    public required int PositionRows { get; init; }
    public required GpuEncoderLayer[] Layers { get; init; }
    public required Buffer FinalNormWeight { get; init; }
    public required Buffer FinalNormBias { get; init; }
    /// <summary>audio_projection_layer: linear1 (d → width), ReLU, linear2 (width → width).</summary>
    public required FusedLinear Projection1 { get; init; }
    public required FusedLinear Projection2 { get; init; }

    /// <summary>Columns of conv1's unfolded rows: mel bins · 3, rounded up to whole 32-column units.</summary>
    public required int Conv1Columns { get; init; }

    /// <summary>Width of the projected embeddings (the LLM hidden size).</summary>
    public int EmbeddingWidth => Projection2.Outputs;

    public long Bytes => AllLinears.Sum(l => l.WeightBytes) + Positions.LengthInBytes;

    private IEnumerable<FusedLinear> AllLinears =>
        Layers.SelectMany(l => l.Linears).Concat([Conv1, Conv2, Projection1, Projection2]);

    /// <summary>Uploads the encoder and projection. Called inside the encoder's <see cref="Models.DeviceAllocation"/>, which
    /// frees what was made before a failure (a tensor of the wrong shape or dtype, the device out of memory).</summary>
    public static GpuWhisperWeights Upload(GpuDevice device, Checkpoint checkpoint)
    {
        var host = WhisperWeights.Load(checkpoint);
        var config = host.Config;
        var file = new TowerWeights(checkpoint);
        var uploader = new GpuWeightUploader(device, checkpoint.SourcePath);
        int d = config.DModel, intermediate = GpuSiglipWeights.RoundUp32(config.FfnDim);
        Buffer Vector(float[] values) => device.Upload<float>(values);
        FusedLinear Linear(string weight, Linear cpu, int paddedRows = 0, int paddedCols = 0) =>
            uploader.Linear([file.HostRows(weight, cpu.Outputs, cpu.Inputs)], [cpu.Bias ?? new float[cpu.Outputs]], paddedRows, paddedCols);

        var layers = new GpuEncoderLayer[config.Layers];
        for (int i = 0; i < layers.Length; i++)
        {
            string N(string part) => WeightNames.Audio(i, part);
            var l = host.Layers[i];
            var qkv = new[] { ("attn_q", l.Query), ("attn_k", l.Key), ("attn_v", l.Value) };
            layers[i] = new GpuEncoderLayer(
                Vector(l.AttentionNormWeight), Vector(l.AttentionNormBias),
                uploader.Linear(qkv.Select(p => file.HostRows(N(p.Item1 + ".weight"), d, d)).ToArray(),
                    qkv.Select(p => p.Item2.Bias ?? new float[d]).ToArray()),
                Linear(N("attn_out.weight"), l.Output),
                Vector(l.FfnNormWeight), Vector(l.FfnNormBias),
                Linear(N("ffn_up.weight"), l.Up, paddedRows: intermediate),
                Linear(N("ffn_down.weight"), l.Down, paddedCols: intermediate));
        }
        int conv1Columns = GpuSiglipWeights.RoundUp32(3 * config.MelBins);
        return new GpuWhisperWeights
        {
            Conv1 = uploader.Linear([file.HostKernelRows("audio.conv1.weight", [d, config.MelBins, 3])], [host.Conv1Bias], paddedCols: conv1Columns),
            Conv2 = uploader.Linear([file.HostKernelRows("audio.conv2.weight", [d, d, 3])], [host.Conv2Bias]),
            Positions = Vector(host.Positions),
            PositionRows = host.Positions.Length / d,
            Layers = layers,
            FinalNormWeight = Vector(host.FinalNormWeight),
            FinalNormBias = Vector(host.FinalNormBias),
            Projection1 = Linear("audio_proj.linear1.weight", host.Projection1),
            Projection2 = Linear("audio_proj.linear2.weight", host.Projection2),
            Conv1Columns = conv1Columns,
        };
    }

    /// <summary>Random weights of the <paramref name="random"/> generator's float type, projecting to
    /// <paramref name="width"/> (benchmarks). Norm weights 1, biases 0, positions 0.</summary>
    public static GpuWhisperWeights Random(AudioConfig config, int width, RandomDeviceWeights random)
    {
        int d = config.DModel, intermediate = GpuSiglipWeights.RoundUp32(config.FfnDim), conv1Columns = GpuSiglipWeights.RoundUp32(3 * config.MelBins);
        var layers = new GpuEncoderLayer[config.Layers];
        for (int i = 0; i < layers.Length; i++)
            layers[i] = new GpuEncoderLayer(random.Filled(d, 1), random.Filled(d, 0), random.Linear(3 * d, d), random.Linear(d, d),
                random.Filled(d, 1), random.Filled(d, 0), random.Linear(intermediate, d), random.Linear(d, intermediate));
        return new GpuWhisperWeights
        {
            Conv1 = random.Linear(d, conv1Columns),
            Conv2 = random.Linear(d, 3 * d),
            Positions = random.Filled(config.MaxSourcePositions * d, 0),
            PositionRows = config.MaxSourcePositions,
            Layers = layers,
            FinalNormWeight = random.Filled(d, 1),
            FinalNormBias = random.Filled(d, 0),
            Projection1 = random.Linear(width, d),
            Projection2 = random.Linear(width, width),
            Conv1Columns = conv1Columns,
        };
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
        foreach (var linear in new[] { Conv1, Conv2, Projection1, Projection2 }) linear.Dispose();
        Positions.Dispose();
        FinalNormWeight.Dispose();
        FinalNormBias.Dispose();
    }
}
