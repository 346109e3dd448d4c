using System.Numerics.Tensors;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Audio;

/// <summary>
/// MiniCPM-o's bridge from encoder frames to LLM embeddings: <c>audio_projection_layer</c>
/// A = linear2(relu(linear1(H))), then <c>AvgPool1d(pool_step, stride pool_step)</c> over time,
/// A'[t] = mean(A[t·s], …, A[t·s + s − 1]) for t &lt; (C − s)//s + 1 (a trailing partial window is dropped).
/// </summary>
internal sealed class AudioProjector(WhisperWeights weights)
{
    public int Width => weights.EmbeddingWidth;

    /// <returns>[frames, Width].</returns>
    public float[] Project(ReadOnlySpan<float> hidden, int frames, CpuThreadPool? pool)
    {
        var inner = new float[frames * weights.Projection1.Outputs];
        weights.Projection1.Apply(hidden, frames, inner, pool);
        TensorPrimitives.Max(inner, 0f, inner); // ReLU
        var projected = new float[frames * Width];
        weights.Projection2.Apply(inner, frames, projected, pool);
        return projected;
    }

    /// <returns>[(frames − step)//step + 1, width].</returns>
    public static float[] AveragePool(ReadOnlySpan<float> rows, int frames, int width, int step)
    {
        int tokens = AudioTokenCount.PooledTokens(frames, step);
        var pooled = new float[tokens * width];
        for (int t = 0; t < tokens; t++)
        {
            var output = pooled.AsSpan(t * width, width);
            for (int j = 0; j < width; j++)
            {
                float sum = 0;
                for (int s = 0; s < step; s++) sum += rows[(t * step + s) * width + j];
                output[j] = sum / step;
            }
        }
        return pooled;
    }
}
