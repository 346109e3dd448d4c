using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `vision` case (golden README §2): slices pixel_values_i with patch grids tgt_sizes → per slice the NaViT
/// row/column buckets, the encoder input (embeddings_i) and the SigLIP output (vision_hidden_i); plus the padded
/// batch's position_ids and patch_attention_mask (HF's layout: real patches first, padding id 0 / mask 0). The
/// encoder runs on the CPU, or on the GPU (<see cref="GpuSiglipEncoder"/>) when the options name a device.
/// </summary>
public sealed class VisionGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "vision";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        using var pool = options.Threads > 1 ? new CpuThreadPool(options.Threads) : null;
        using var device = options.OnGpu ? Qwen2GpuModel.OpenDevice(options.Device!) : null;
        using var gpu = device is null ? null : GpuSiglipEncoder.Load(checkpoint, device);
        var cpu = gpu is null ? SiglipEncoder.Load(checkpoint) : null;
        var config = gpu?.Config ?? cpu!.Config;
        Func<VisionSlice, float[]> embed = gpu is null ? slice => cpu!.Embed(slice, pool) : gpu.Embed;
        Func<VisionSlice, float[]> encode = gpu is null ? slice => cpu!.Encode(slice, pool) : gpu.Encode;
        var slices = GoldenSlices.Read(goldenCase, outputs, config.PatchSize);
        int side = config.PositionGridSide;

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

            outputs.Add($"embeddings_{b}", embed(slice));
            outputs.Add($"vision_hidden_{b}", encode(slice));
        }
        outputs.Add("position_ids", positionIds);
        outputs.Add("patch_attention_mask", mask);
    }
}
