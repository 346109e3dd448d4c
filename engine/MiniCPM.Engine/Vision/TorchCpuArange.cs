namespace MiniCPM.Engine.Vision;

/// <summary>
/// torch.arange(start, end, step) with a float32 result, value for value as PyTorch's CPU kernel produces it. The
/// kernel keeps start and step in double and fills the tensor two SIMD vectors at a time: each vector gets the base
/// float32(start + step·i0) for its first index i0, and lane k gets float32(base + k·step) (the sum in double); the
/// indices after the last whole pair of vectors get float32(start + step·i). The rounding of the base is why some
/// values land a float32 ulp below the exact i·step — and with them, a few SigLIP position buckets one lower than
/// floor(70·i/n) (see <see cref="NavitPositionIds"/>).
/// </summary>
public static class TorchCpuArange
{
    /// <summary>Float32 lanes of one vector on the AVX2 machine the reference ids were produced on.</summary>
    public const int Avx2VectorWidth = 8;

    /// <summary>The values; the count is ceil((end − start) / step) in double, as torch computes it.</summary>
    public static float[] Float32(double start, double end, double step, int vectorWidth = Avx2VectorWidth)
    {
        if (step <= 0 || !double.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be positive and finite");
        ArgumentOutOfRangeException.ThrowIfLessThan(vectorWidth, 1);
        double size = Math.Ceiling((end - start) / step);
        if (size > 1 << 24) throw new ArgumentOutOfRangeException(nameof(end), $"arange of {size} values is too long");
        int count = size <= 0 ? 0 : (int)size;
        var values = new float[count];
        int vectorized = count / (2 * vectorWidth) * (2 * vectorWidth);
        for (int i0 = 0; i0 < vectorized; i0 += vectorWidth)
        {
            float vectorBase = (float)(start + step * i0);
            for (int k = 0; k < vectorWidth; k++) values[i0 + k] = (float)(vectorBase + k * step);
        }
        for (int i = vectorized; i < count; i++) values[i] = (float)(start + step * i);
        return values;
    }
}
