using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// One or two float32 weight rows (decoded from a packed format into a scratch buffer) times every token: the
/// multi-token half of the int4 kernels, on the F32 row kernels (two rows · four tokens per call).
/// </summary>
internal static unsafe class FloatTile
{
    /// <param name="rows">rowCount (1 or 2) contiguous rows of <paramref name="cols"/> floats.</param>
    /// <param name="y">Output column of the first row: Y[t, r] is at y[t · yStride + r].</param>
    public static void Multiply(RowKernels f32, float* rows, int rowCount, int cols, float* x, int tokens, float* y, long yStride)
    {
        byte* w = (byte*)rows;
        long stride = (long)cols * sizeof(float);
        int t = 0;
        if (rowCount == 2 && f32.Dot2Rows4Tokens != null)
            for (; t + 4 <= tokens; t += 4)
                f32.Dot2Rows4Tokens(w, stride, x + (long)t * cols, cols, cols, y + t * yStride, yStride);
        for (; t < tokens; t++)
            for (int k = 0; k < rowCount; k++)
                y[t * yStride + k] = f32.Dot(w + k * stride, x + (long)t * cols, cols);
    }
}
