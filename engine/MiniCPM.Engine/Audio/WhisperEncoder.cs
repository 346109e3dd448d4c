using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Audio;

/// <summary>
/// MiniCPM-o's Whisper encoder on one mel piece of any length F (no padding to 3000 frames), in float32:
/// <code>
/// x = gelu(conv1(mel))                      k3, pad 1          → [F, d]
/// x = gelu(conv2(x))                        k3, stride 2, pad 1 → [C, d], C = (F − 1)//2 + 1
/// x += embed_positions[0 : C]
/// per layer:  x += out(attn(LN1(x)))        q = Wq·x + bq, k = Wk·x (no bias), v = Wv·x + bv, scale 1/√head_dim,
///                                           each query sees the prefix of keys its mask allows
///             x += fc2(gelu(fc1(LN2(x))))
/// H = layer_norm(x)                          LayerNorm eps 1e-5, GELU exact (erf)
/// </code>
/// </summary>
internal sealed class WhisperEncoder(WhisperWeights weights)
{
    private const int Kernel = 3;

    public int Width => weights.Config.DModel;

    /// <summary>Encoder frames for <paramref name="melFrames"/> mel frames.</summary>
    public static int OutputFrames(int melFrames) => AudioTokenCount.EncoderFrames(melFrames);

    /// <param name="mel">[MelBins, frames], mel bin major (as <see cref="WhisperLogMel"/> returns it).</param>
    /// <param name="chunkFrames">Block-causal chunk in encoder frames; ≤ 0 is full attention.</param>
    /// <returns>H: [C, d] row-major.</returns>
    public float[] Encode(ReadOnlySpan<float> mel, int frames, int chunkFrames, CpuThreadPool? pool)
    {
        var config = weights.Config;
        int bins = config.MelBins, d = config.DModel;
        if (frames < 1 || mel.Length != (long)bins * frames)
            throw new ArgumentException($"mel must be [{bins}, frames ≥ 1]; {mel.Length} values for {frames} frames given");
        int c = OutputFrames(frames);
        int maxFrames = weights.Positions.Length / d;
        if (c > maxFrames)
            throw new ArgumentException($"{frames} mel frames give {c} encoder frames; the position table has {maxFrames} (pieces of at most 30 s)");

        // Conv front end, time-major: mel [bins, F] → [F, bins] → im2col → [F, d] → im2col stride 2 → [C, d].
        var timeMajor = new float[frames * bins];
        for (int m = 0; m < bins; m++)
            for (int t = 0; t < frames; t++) timeMajor[t * bins + m] = mel[m * frames + t];
        var conv1 = Convolve(timeMajor, frames, bins, weights.Conv1, weights.Conv1Bias, stride: 1, pool);
        var x = Convolve(conv1, frames, d, weights.Conv2, weights.Conv2Bias, stride: 2, pool);
        for (int i = 0; i < c * d; i++) x[i] += weights.Positions[i];

        int heads = config.Heads, headDim = config.HeadDim;
        float eps = (float)config.LayerNormEps, scale = 1 / MathF.Sqrt(headDim);
        int[] visible = AudioAttentionMask.VisibleKeys(c, chunkFrames);
        var normed = new float[c * d];
        var q = new float[c * d];
        var k = new float[c * d];
        var v = new float[c * d];
        var attention = new float[c * d];
        var delta = new float[c * d];
        var hidden = new float[c * config.FfnDim];
        foreach (var layer in weights.Layers)
        {
            LayerNorm.ApplyRows(x, c, layer.AttentionNormWeight, layer.AttentionNormBias, eps, normed, pool);
            layer.Query.Apply(normed, c, q, pool);
            layer.Key.Apply(normed, c, k, pool);
            layer.Value.Apply(normed, c, v, pool);
            PrefixAttention.Compute(q, k, v, attention, c, c, heads, heads, headDim, scale, visible, pool);
            layer.Output.Apply(attention, c, delta, pool);
            Elementwise.Add(x, delta, x);

            LayerNorm.ApplyRows(x, c, layer.FfnNormWeight, layer.FfnNormBias, eps, normed, pool);
            layer.Up.Apply(normed, c, hidden, pool);
            ParallelGelu(hidden, c, config.FfnDim, pool);
            layer.Down.Apply(hidden, c, delta, pool);
            Elementwise.Add(x, delta, x);
        }
        LayerNorm.ApplyRows(x, c, weights.FinalNormWeight, weights.FinalNormBias, eps, x, pool);
        return x;
    }

    /// <summary>gelu(conv(x) + b) for a time-major input [length, channels]: im2col rows times the [out, in·3] weight.</summary>
    private static float[] Convolve(float[] input, int length, int channels, WeightMatrix weight, float[] bias, int stride, CpuThreadPool? pool)
    {
        int steps = Conv1d.OutputLength(length, Kernel, stride, padding: 1);
        var columns = new float[steps * channels * Kernel];
        Conv1d.Im2Col(input, length, channels, Kernel, stride, padding: 1, columns);
        var output = new float[steps * weight.Rows];
        MatMul.Multiply(weight, columns, steps, output, bias, pool);
        ParallelGelu(output, steps, weight.Rows, pool);
        return output;
    }

    /// <summary>Exact GELU in place over rows × width values, rows split across the pool.</summary>
    private static unsafe void ParallelGelu(float[] values, int rows, int width, CpuThreadPool? pool)
    {
        fixed (float* p = values)
        {
            var job = new GeluJob(p, width);
            if (pool is null || rows < 2) job.Execute(0, rows);
            else pool.For(rows, job);
        }
    }

    private readonly unsafe struct GeluJob(float* values, int width) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            var span = new Span<float>(values + (long)start * width, (end - start) * width);
            Activations.GeluErf(span, span);
        }
    }
}
