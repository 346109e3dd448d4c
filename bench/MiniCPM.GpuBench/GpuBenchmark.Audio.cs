using System.Diagnostics;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Audio.Gpu;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>
/// The audio section: ms per 30 s piece (3000 mel frames → 1500 encoder frames → 750 LLM tokens) through a random
/// Whisper-medium encoder and MiniCPM-o's projection to 3584 (the <c>minicpmo-2.6-shape</c> preset: d 1024, 24 layers,
/// 16 heads of 64, ffn 4096) in F16 weights, with 1 s block-causal chunks as <c>chat()</c> runs it; mel up and the
/// pooled rows down included (the log-mel itself is CPU work and not timed). Reports the achieved TFLOP/s and the
/// real-time factor. <c>--tiny-vision</c> (and <c>--tiny</c>) take a micro encoder and a 1 s piece instead.
/// </summary>
internal static partial class GpuBenchmark
{
    private static void AudioSection(GpuDevice gpu, bool quick, bool tiny)
    {
        var spec = SyntheticModelSpec.Preset("minicpmo-2.6-shape");
        AudioConfig a = spec.Audio!;
        int width = spec.Llm.HiddenSize;
        string name = spec.Name;
        if (tiny)
        {
            a = SyntheticModelSpec.WhisperShape(dModel: 64, layers: 1, heads: 2);
            width = 64;
            name = "micro";
        }
        int melFrames = tiny ? 100 : 3000, chunk = AudioAttentionMask.ChunkFrames(a.ChunkLengthSeconds);
        Line($"## audio: random {name} Whisper encoder (d {a.DModel}, {a.Layers} layers, {a.Heads}×{a.HeadDim} heads, ffn {a.FfnDim}) + projection to {width}, F16 weights, {chunk}-frame attention chunks");
        using var encoder = GpuWhisperEncoder.Random(gpu, a, width, TensorType.F16);
        var random = new Random(6);
        var mel = new float[a.MelBins * melFrames];
        for (int i = 0; i < mel.Length; i++) mel[i] = (float)(random.NextDouble() * 2 - 1);

        int frames = AudioTokenCount.EncoderFrames(melFrames);
        double flops = PieceFlops(a, width, melFrames, frames, chunk);
        double audioSeconds = melFrames / 100.0;
        Line("| piece | encoder frames | weights | path | first call (compile) | ms/piece | GFLOP/piece | TFLOP/s | × real time | max |difference| from the first path, relative |");
        Line("|---|---|---|---|---|---|---|---|---|---|");
        float[]? reference = null;
        foreach (var path in KernelPath.ForEncoders(gpu))
        {
            var (first, seconds, rows, label) = path.Run(gpu, () =>
            {
                var watch = Stopwatch.StartNew();
                float[] rows = encoder.Embed(mel, melFrames, chunk); // kernel compilation and scratch allocation
                double first = watch.Elapsed.TotalSeconds;
                int repetitions = tiny ? 1 : quick ? 3 : 10;
                watch.Restart();
                for (int i = 0; i < repetitions; i++) encoder.Embed(mel, melFrames, chunk);
                return (first, watch.Elapsed.TotalSeconds / repetitions, rows, path.Label(gpu));
            });
            string difference = reference is null ? "—" : $"{RelativeDifference(reference, rows):E1}";
            reference ??= rows;
            Line($"| {audioSeconds:F0} s | {frames} | {encoder.WeightBytes / 1e6:F0} MB | {label} | {first:F2} s | {seconds * 1e3:F2} | {flops / 1e9:F1} | {flops / seconds / 1e12:F2} | {audioSeconds / seconds:F0} | {difference} |");
        }
    }

    /// <summary>
    /// Multiply-adds ×2 of one piece: conv1 (F·d·3·bins) and conv2 (C·d·3d); per layer q, k, v and out (4·C·d²), the MLP
    /// (2·C·d·ffn) and attention over the keys each frame sees (QKᵀ and PV: 2·d·Σ visible); the projection
    /// (C·d·w + C·w²). Norms, GELU, softmax and pooling are left out (a few percent).
    /// </summary>
    private static double PieceFlops(AudioConfig a, int width, int melFrames, int frames, int chunk)
    {
        double d = a.DModel, c = frames;
        double visible = AudioAttentionMask.VisibleKeys(frames, chunk).Sum(v => (double)v);
        double convolutions = melFrames * d * 3 * a.MelBins + c * d * 3 * d;
        double layer = 4 * c * d * d + 2 * c * d * a.FfnDim + 2 * d * visible;
        double projection = c * d * width + c * (double)width * width;
        return 2 * (convolutions + a.Layers * layer + projection);
    }
}
