using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `vision` case (golden README §2): slices pixel_values_i with patch grids tgt_sizes → per slice the NaViT
/// row/column buckets, the encoder input (embeddings_i) and the SigLIP output (vision_hidden_i); plus the padded
/// batch's position_ids and patch_attention_mask (HF's layout: real patches first, padding id 0 / mask 0).
/// </summary>
public sealed class VisionGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "vision";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        var encoder = SiglipEncoder.Load(checkpoint);
        using var pool = options.Threads > 1 ? new CpuThreadPool(options.Threads) : null;
        var slices = GoldenSlices.Read(goldenCase, outputs, encoder.Config.PatchSize);
        int side = encoder.Config.PositionGridSide;

        int padded = goldenCase.Manifest.Find("position_ids") is { Shape: [_, var l] } ? checked((int)l) : slices.Max(s => s.Patches);
        var positionIds = new int[slices.Count * padded];
        var mask = new int[slices.Count * padded];
        for (int b = 0; b < slices.Count; b++)
        {
            var (slice, rows, columns) = slices[b];
            outputs.Add($"pos_bucket_rows_{b}", NavitPositionIds.Buckets(rows, side));
            outputs.Add($"pos_bucket_cols_{b}", NavitPositionIds.Buckets(columns, side));
            int[] ids = NavitPositionIds.ForGrid(rows, columns, side);
            ids.AsSpan(0, Math.Min(ids.Length, padded)).CopyTo(positionIds.AsSpan(b * padded));
            mask.AsSpan(b * padded, Math.Min(ids.Length, padded)).Fill(1);

            outputs.Add($"embeddings_{b}", encoder.Embed(slice, pool));
            outputs.Add($"vision_hidden_{b}", encoder.Encode(slice, pool));
        }
        outputs.Add("position_ids", positionIds);
        outputs.Add("patch_attention_mask", mask);
    }
}
