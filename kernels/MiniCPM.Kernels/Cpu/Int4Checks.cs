namespace MiniCPM.Kernels.Cpu;

/// <summary>Argument checks shared by the int4 matrix kernels.</summary>
internal static class Int4Checks
{
    public static void Shapes(int rows, int cols, ReadOnlySpan<float> x, int tokens, Span<float> y, ReadOnlySpan<float> bias)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (x.Length < (long)tokens * cols)
            throw new ArgumentException($"activations hold {x.Length} values; {tokens}×{cols} are needed", nameof(x));
        if (y.Length < (long)tokens * rows)
            throw new ArgumentException($"output holds {y.Length} values; {tokens}×{rows} are needed", nameof(y));
        if (!bias.IsEmpty && bias.Length != rows)
            throw new ArgumentException($"bias has {bias.Length} values; the matrix has {rows} rows", nameof(bias));
    }
}
