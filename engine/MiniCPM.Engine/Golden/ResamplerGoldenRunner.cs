using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `resampler` case (golden README §3): vision features input_i with grids tgt_sizes → the key position
/// embedding of each slice (pos_embed_i) and the resampler output of all slices ([B, queries, D]).
/// </summary>
public sealed class ResamplerGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "resampler";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        var resampler = Resampler.Load(checkpoint);
        using var pool = options.Threads > 1 ? new CpuThreadPool(options.Threads) : null;
        var sizes = GoldenSlices.GridSizes(goldenCase, outputs);
        var output = new List<float>();
        for (int b = 0; b < sizes.Count; b++)
        {
            var (rows, columns) = sizes[b];
            float[] features = goldenCase.ReadFloats($"input_{b}");
            outputs.MarkInput($"input_{b}");
            outputs.Add($"pos_embed_{b}", resampler.PositionEmbedding(rows, columns));
            output.AddRange(resampler.Apply(features, rows, columns, pool));
        }
        outputs.Add("output", output.ToArray());
    }
}
