namespace MiniCPM.Engine.Vision;

/// <summary>
/// The resampler's 2-D sin-cos position embedding (MiniCPM-V's get_2d_sincos_pos_embed): for grid cell (r, c) and
/// width D, dims [0, D/4) = sin(c·ω), [D/4, D/2) = cos(c·ω), [D/2, 3D/4) = sin(r·ω), [3D/4, D) = cos(r·ω), with
/// ω_k = 1 / 10000^(k / (D/4)) in float32 as numpy computes it. The column half comes first.
/// </summary>
public static class SinCosPositionTable
{
    /// <summary>The embedding of one cell into <paramref name="destination"/> (length D, a multiple of 4).</summary>
    public static void Cell(int row, int column, Span<float> destination)
    {
        int d = destination.Length;
        if (d % 4 != 0) throw new ArgumentException($"width {d} must be a multiple of 4", nameof(destination));
        int quarter = d / 4;
        OneAxis(column, quarter, destination[..(2 * quarter)]);
        OneAxis(row, quarter, destination[(2 * quarter)..]);
    }

    /// <summary>The table for a rows × columns grid, row-major (cell r·columns + c), each row of width D.</summary>
    public static float[] Grid(int rows, int columns, int width)
    {
        var table = new float[checked(rows * columns * width)];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                Cell(r, c, table.AsSpan((r * columns + c) * width, width));
        return table;
    }

    private static void OneAxis(int position, int quarter, Span<float> destination)
    {
        for (int k = 0; k < quarter; k++)
        {
            float omega = 1f / MathF.Pow(10000f, k / (float)quarter);
            float angle = position * omega;
            destination[k] = (float)Math.Sin(angle);
            destination[quarter + k] = (float)Math.Cos(angle);
        }
    }
}
