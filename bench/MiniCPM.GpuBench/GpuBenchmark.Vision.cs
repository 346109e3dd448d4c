using System.Diagnostics;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>
/// The vision section: ms per slice of a random SigLIP-400M + resampler tower (MiniCPM-V 2.6's shape: hidden 1152,
/// 27 layers, 16 heads of 72, ffn 4304, patch 14; resampler D 3584 in 28 heads, 64 queries) in F16 weights, pixels up
/// and rows down included, with the achieved TFLOP/s against the FLOPs one slice needs; and the dense attention
/// kernel alone at SigLIP's and the resampler's shapes. <c>--tiny-vision</c> takes a micro tower (SigLIP 32 wide,
/// one layer; resampler D 128, 4 queries) and a 28 × 28 slice instead, to check the section runs on the simulator
/// (<c>--device cpu --vision-only --tiny-vision</c>).
/// </summary>
internal static partial class GpuBenchmark
{
    private static void VisionSection(GpuDevice gpu, bool quick, bool tiny)
    {
        var spec = SyntheticModelSpec.Preset("minicpmv-2.6-shape");
        VisionConfig v = spec.Vision!;
        ResamplerConfig r = spec.Resampler!;
        string name = spec.Name;
        if (tiny)
        {
            // A micro tower the simulator runs in seconds: every stage of the real one, at toy widths.
            v = new VisionConfig { HiddenSize = 32, Layers = 1, Heads = 2, IntermediateSize = 48 };
            r = new ResamplerConfig { EmbedDim = 128, KvDim = 32, Queries = 4 };
            name = "micro";
        }
        int side = tiny ? 28 : 448, patches = side / v.PatchSize * (side / v.PatchSize);
        Line($"## vision: random {name} tower (SigLIP hidden {v.HiddenSize}, {v.LayersUsed} layers, {v.Heads}×{v.HeadDim} heads, ffn {v.IntermediateSize}; resampler D {r.EmbedDim}, {r.Heads} heads, {r.Queries} queries), F16 weights");
        using var tower = GpuVisionTower.Random(gpu, v, r, TensorType.F16);
        var random = new Random(5);
        var pixels = new float[3 * side * side];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(random.NextDouble() * 2 - 1);
        var slice = new VisionSlice(pixels, side, side);

        double flops = SliceFlops(v, r, patches);
        Line($"| slice | patches | weights | path | first call (compile) | ms/slice | GFLOP/slice | TFLOP/s | weight GB/s | rows' max |difference| from the first path, relative |");
        Line("|---|---|---|---|---|---|---|---|---|---|");
        float[]? reference = null;
        foreach (var path in KernelPath.ForEncoders(gpu))
        {
            var (first, seconds, rows, label) = path.Run(gpu, () =>
            {
                var watch = Stopwatch.StartNew();
                float[] rows = tower.Embed(slice); // kernel compilation and scratch allocation
                double first = watch.Elapsed.TotalSeconds;
                int repetitions = tiny ? 1 : quick ? 3 : 10;
                watch.Restart();
                for (int i = 0; i < repetitions; i++) tower.Embed(slice);
                return (first, watch.Elapsed.TotalSeconds / repetitions, rows, path.Label(gpu));
            });
            string difference = reference is null ? "—" : $"{RelativeDifference(reference, rows):E1}";
            reference ??= rows;
            Line($"| {side}×{side} | {patches} | {tower.WeightBytes / 1e6:F0} MB | {label} | {first:F2} s | {seconds * 1e3:F2} | {flops / 1e9:F1} | {flops / seconds / 1e12:F2} | {tower.WeightBytes / seconds / 1e9:F0} | {difference} |");
        }
        if (!tiny || _tiny) // --tiny-vision alone skips them; the --tiny smoke run takes every path
        {
            Line("| dense attention | shape | µs/call | TFLOP/s | max |difference| from the fused kernel, relative |");
            Line("|---|---|---|---|---|");
            Guarded(() => DenseAttentionLine(gpu, "SigLIP self-attention", patches, patches, v.Heads, v.HeadDim, quick));
            Guarded(() => DenseAttentionLine(gpu, "resampler cross-attention", r.Queries, patches, r.Heads, r.HeadDim, quick));
        }
    }

    /// <summary>
    /// Multiply-adds ×2 of one slice of n patches: the patch convolution; per layer q, k, v and out (4·n·h²), the MLP
    /// (2·n·h·ffn) and attention (QKᵀ and PV: 2·n²·h); the resampler's kv (n·D·h), k and v (2·n·D²), attention
    /// (2·Q·n·D), out and proj (2·Q·D²). Norms, GELU and softmax are left out (a few percent).
    /// </summary>
    private static double SliceFlops(VisionConfig v, ResamplerConfig r, int n)
    {
        double h = v.HiddenSize, f = v.IntermediateSize, d = r.EmbedDim, q = r.Queries, p = v.PatchSize;
        double embed = n * h * 3 * p * p;
        double layer = 4 * n * h * h + 2 * n * h * f + 2.0 * n * n * h;
        double resampler = n * d * h + 2 * n * d * d + 2 * q * n * d + 2 * q * d * d;
        return 2 * (embed + v.LayersUsed * layer + resampler);
    }

    private static void DenseAttentionLine(GpuDevice gpu, string name, int queries, int keys, int heads, int headDim, bool quick)
    {
        int width = heads * headDim;
        using var q = gpu.Allocate<float>((long)queries * width);
        using var k = gpu.Allocate<float>((long)keys * width);
        using var value = gpu.Allocate<float>((long)keys * width);
        using var o = gpu.Allocate<float>((long)queries * width);
        Fill(gpu, q.View, q.Length);
        Fill(gpu, k.View, k.Length);
        Fill(gpu, value.View, value.Length);
        var args = new DenseAttentionArgs
        {
            Query = q.View, Key = k.View, Value = value.View, Output = o.View,
            QueryStride = width, KeyStride = width, ValueStride = width, OutputStride = width,
            Queries = queries, Keys = keys, Heads = heads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim),
        };
        double flops = 4.0 * queries * keys * width;
        float[]? fused = null;
        // The fused kernel, then the same attention as products (GpuKernels.DenseAttentionAsProducts) on the CUDA cores
        // and, where there are any, the tensor cores; each with its difference from the fused result.
        foreach (var path in KernelPath.ForAttention(gpu))
        {
            var (seconds, result, label) = path.Run(gpu, () =>
                (Seconds(gpu, () => gpu.Kernels.DenseAttention(args), quick ? 5 : 20), Download(o.View, o.Length),
                 path.AttentionAsProducts ? "as products, " + path.MatMuls(gpu) : "fused kernel"));
            string difference = fused is null ? "—" : $"{RelativeDifference(fused, result):E1}";
            fused ??= result;
            Line($"| {name}, {label} | {queries}×{keys}, {heads}×{headDim} | {seconds * 1e6:F1} | {flops / seconds / 1e12:F2} | {difference} |");
        }
    }
}
