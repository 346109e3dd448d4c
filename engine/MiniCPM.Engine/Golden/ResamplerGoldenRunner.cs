using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `resampler` case (golden README §3): vision features input_i with grids tgt_sizes → the key position
/// embedding of each slice (pos_embed_i) and the resampler output of all slices ([B, queries, D]). The resampler runs
/// on the CPU, or on the GPU (<see cref="GpuResampler"/>) when the options name a device; the position embedding is
/// the CPU table either way (the GPU adds the same rows).
/// </summary>
public sealed class ResamplerGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "resampler";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        var resampler = Resampler.Load(checkpoint);
        using var pool = options.Threads > 1 ? new CpuThreadPool(options.Threads) : null;
        using var device = options.OnGpu ? Qwen2GpuModel.OpenDevice(options.Device!) : null;
        using var gpu = device is null ? null : GpuResampler.Load(checkpoint, device);
        var sizes = GoldenSlices.GridSizes(goldenCase, outputs);
        var output = new List<float>();
        for (int b = 0; b < sizes.Count; b++)
        {
            var (rows, columns) = sizes[b];
            float[] features = goldenCase.ReadFloats($"input_{b}");
            outputs.MarkInput($"input_{b}");
            outputs.Add($"pos_embed_{b}", resampler.PositionEmbedding(rows, columns));
            output.AddRange(gpu is null ? resampler.Apply(features, rows, columns, pool) : gpu.Apply(features, rows, columns));
        }
        outputs.Add("output", output.ToArray());
    }
}
