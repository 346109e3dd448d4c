using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="PatchUnfoldKernel"/>.</summary>
public struct PatchUnfoldArgs
{
    /// <summary>Normalized pixels [3, Height, Width], channel-major.</summary>
    public ArrayView<float> Pixels;
    /// <summary>[patches, RowStride]: one row per patch, RowStride ≥ 3·p·p (the padding columns are written as 0).</summary>
    public ArrayView<float> Unfolded;
    public int Height, Width, PatchSize, RowStride;
}

/// <summary>
/// im2col for SigLIP's patch convolution (kernel = stride = p): row n = r·w + c of the output holds the patch's pixels
/// X[ch, r·p + ky, c·p + kx] in (ch, ky, kx) order — the order of the convolution kernel's inner dimensions — so the
/// convolution becomes one matrix product with the kernel viewed as [hidden, 3·p·p]. Rows are padded with zeros to a
/// whole number of 32-column units (3·14·14 = 588 → 608), which the matrix kernels need. One thread per output value.
/// </summary>
public static class PatchUnfoldKernel
{
    public static void Kernel(Index1D index, PatchUnfoldArgs a)
    {
        int p = a.PatchSize, columns = a.Width / p;
        int patch = index / a.RowStride, column = index % a.RowStride;
        float value = 0;
        if (column < 3 * p * p)
        {
            int channel = column / (p * p), ky = column / p % p, kx = column % p;
            int r = patch / columns, c = patch % columns;
            value = a.Pixels[((long)channel * a.Height + r * p + ky) * a.Width + c * p + kx];
        }
        a.Unfolded[index] = value;
    }
}
