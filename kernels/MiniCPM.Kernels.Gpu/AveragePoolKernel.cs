using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="AveragePoolKernel"/>.</summary>
public struct AveragePoolArgs
{
    /// <summary>[frames, Width] rows in; [⌊(frames − Step) / Step⌋ + 1, Width] rows out.</summary>
    public ArrayView<float> Rows, Pooled;
    public int Width, Step;
}

/// <summary>
/// AvgPool1d(Step, stride Step) over time, as MiniCPM-o pools projected audio frames: pooled[t, j] =
/// (rows[t·Step, j] + … + rows[t·Step + Step − 1, j]) / Step, summed in that order as the CPU does (a trailing partial
/// window is dropped by the caller's output length). One thread per output value.
/// </summary>
public static class AveragePoolKernel
{
    public static void Kernel(Index1D index, AveragePoolArgs a)
    {
        int t = index / a.Width, j = index % a.Width;
        long first = (long)t * a.Step * a.Width + j;
        float sum = 0;
        for (int s = 0; s < a.Step; s++) sum += a.Rows[first + (long)s * a.Width];
        a.Pooled[index] = sum / a.Step;
    }
}
