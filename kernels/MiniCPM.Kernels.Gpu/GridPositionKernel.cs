using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="GridPositionKernel"/>.</summary>
public struct GridPositionArgs
{
    /// <summary>[rows·Columns, Width] inputs and outputs (may be the same view).</summary>
    public ArrayView<float> X, Y;
    /// <summary>[positions, Width / 2]: the one-axis sin-cos embedding of each position 0, 1, ….</summary>
    public ArrayView<float> Axis;
    public int Columns, Width;
}

/// <summary>
/// Adds the resampler's separable 2-D sin-cos position embedding of a rows × columns grid: the first half of cell
/// (r, c)'s row is the one-axis embedding of its column c, the second half that of its row r, so one small table of
/// one-axis rows stands for every grid. One thread per value: Y[n, j] = pos(n, j) + X[n, j], n = r·Columns + c.
/// </summary>
public static class GridPositionKernel
{
    public static void Kernel(Index1D index, GridPositionArgs a)
    {
        int half = a.Width / 2;
        int cell = index / a.Width, j = index % a.Width;
        int r = cell / a.Columns, c = cell % a.Columns;
        float position = j < half ? a.Axis[(long)c * half + j] : a.Axis[(long)r * half + j - half];
        a.Y[index] = position + a.X[index];
    }
}
