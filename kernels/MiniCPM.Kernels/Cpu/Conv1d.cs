namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// 1-D convolution (PyTorch Conv1d: cross-correlation, zero padding) as a matrix product: <see cref="Im2Col"/> lays
/// out each output step's receptive field as one row, in the order of a [out, in, kernel] weight's flattened
/// [out, in·kernel] rows, so Y = MatMul(W, columns) is the convolution, time-major ([steps, out]).
/// </summary>
public static class Conv1d
{
    /// <summary>Output steps of a convolution: ⌊(length + 2·padding − kernel) / stride⌋ + 1 (0 when it does not fit).</summary>
    public static int OutputLength(int length, int kernel, int stride, int padding)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        int span = length + 2 * padding - kernel;
        return span < 0 ? 0 : span / stride + 1;
    }

    /// <summary>
    /// columns[t, c·kernel + j] = input[t·stride + j − padding, c] (0 outside the input) for every output step t.
    /// </summary>
    /// <param name="input">[length, channels], time-major.</param>
    /// <param name="columns">[OutputLength, channels·kernel].</param>
    public static void Im2Col(ReadOnlySpan<float> input, int length, int channels, int kernel, int stride, int padding,
        Span<float> columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        int steps = OutputLength(length, kernel, stride, padding);
        if (input.Length < (long)length * channels) throw new ArgumentException($"input holds {input.Length} values; {length}×{channels} expected", nameof(input));
        int width = channels * kernel;
        if (columns.Length < (long)steps * width) throw new ArgumentException($"columns hold {columns.Length} values; {steps}×{width} needed", nameof(columns));
        for (int t = 0; t < steps; t++)
        {
            var row = columns.Slice(t * width, width);
            for (int j = 0; j < kernel; j++)
            {
                int source = t * stride + j - padding;
                if (source < 0 || source >= length)
                {
                    for (int c = 0; c < channels; c++) row[c * kernel + j] = 0;
                    continue;
                }
                var frame = input.Slice(source * channels, channels);
                for (int c = 0; c < channels; c++) row[c * kernel + j] = frame[c];
            }
        }
    }
}
