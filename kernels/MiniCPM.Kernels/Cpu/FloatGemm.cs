using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Y = X·Wᵀ (+ b) for many tokens with F32/F16/BF16 weights, blocked as a GEMM (the BLIS loop order):
/// <code>
/// for each group of ≤ 256 output rows (a thread's share of the rows, in 32-row panels):
///   for each block of ≤ 256 input columns:
///     pack: widen the group's weights once into float32, transposed into panels Wp[column][32 rows]
///     for each 8 tokens, for each panel: Y[8 tokens, 32 rows] (+)= X[8 tokens, block] · Wp      (register tile)
/// </code>
/// The 8 × 32 register tile keeps 16 accumulators; per input column it loads two vectors of packed weights and
/// broadcasts one activation per token, so 16 FMAs need 10 loads and no horizontal sums. Each weight is widened once
/// per call (against once per four tokens in the dot-product kernels), and a packed block (32 KiB per panel) stays in
/// L1/L2 while every token passes over it. Partial tiles (the last tokens, the last rows) go through a zero-padded
/// scratch tile.
/// </summary>
internal static unsafe class FloatGemm
{
    private const int Lanes = 16;
    private const int TileTokens = 8;
    private const int PanelRows = 32;
    private const int ColumnBlock = 256;
    private const int PanelsPerGroup = 8;

    /// <summary>
    /// Fewer tokens than this go to the dot-product kernels: packing costs about as much per weight as a few tokens'
    /// worth of products. Measured on the SigLIP shapes (F16, one thread): 0.5× the dot kernels' speed at 16 tokens,
    /// 0.7× at 32, 1.0–1.1× at 64, 1.4× at 128, 2.6× at 1024.
    /// </summary>
    public const int MinTokens = 64;

    public static bool Supports(TensorType type) => type is TensorType.F32 or TensorType.F16 or TensorType.BF16;

    public static void Multiply(WeightMatrix w, float* x, int tokens, float* y, float* bias, CpuThreadPool? pool)
    {
        switch (w.Type)
        {
            case TensorType.F32: Run<F32Weights>(w, x, tokens, y, bias, pool); break;
            case TensorType.F16: Run<F16Weights>(w, x, tokens, y, bias, pool); break;
            case TensorType.BF16: Run<BF16Weights>(w, x, tokens, y, bias, pool); break;
            default: throw new NotSupportedException($"the float GEMM does not take {w.Type} weights");
        }
    }

    private static void Run<TWeights>(WeightMatrix w, float* x, int tokens, float* y, float* bias, CpuThreadPool? pool)
        where TWeights : IFloatWeights
    {
        var job = new Job<TWeights>(w, x, tokens, y, bias);
        int panels = (w.Rows + PanelRows - 1) / PanelRows;
        if (pool is null || pool.ThreadCount == 1) job.Execute(0, panels);
        else pool.For(panels, job);
    }

    /// <summary>One item per 32-row panel; a range of panels is worked in groups of <see cref="PanelsPerGroup"/>.</summary>
    private readonly struct Job<TWeights>(WeightMatrix w, float* x, int tokens, float* y, float* bias) : IRangeJob
        where TWeights : IFloatWeights
    {
        private readonly byte* _data = w.Data;
        private readonly long _stride = w.RowStrideBytes;
        private readonly int _rows = w.Rows;
        private readonly int _cols = w.Cols;

        public void Execute(int start, int end)
        {
            float* packed = (float*)NativeMemory.AlignedAlloc((nuint)(PanelsPerGroup * ColumnBlock * PanelRows * sizeof(float)), 64);
            float* edgeX = (float*)NativeMemory.AlignedAlloc((nuint)(TileTokens * ColumnBlock * sizeof(float)), 64);
            float* edgeY = (float*)NativeMemory.AlignedAlloc((nuint)(TileTokens * PanelRows * sizeof(float)), 64);
            try
            {
                for (int group = start; group < end; group += PanelsPerGroup)
                {
                    int groupEnd = Math.Min(end, group + PanelsPerGroup);
                    for (int column = 0; column < _cols; column += ColumnBlock)
                    {
                        int width = Math.Min(ColumnBlock, _cols - column);
                        for (int panel = group; panel < groupEnd; panel++)
                            Pack(panel, column, width, packed + (long)(panel - group) * width * PanelRows);
                        for (int token = 0; token < tokens; token += TileTokens)
                            for (int panel = group; panel < groupEnd; panel++)
                                MultiplyTile(token, panel, column, width, packed + (long)(panel - group) * width * PanelRows, edgeX, edgeY);
                    }
                    if (bias != null)
                        for (int t = 0; t < tokens; t++)
                            for (int r = group * PanelRows; r < Math.Min(_rows, groupEnd * PanelRows); r++)
                                y[(long)t * _rows + r] += bias[r];
                }
            }
            finally
            {
                NativeMemory.AlignedFree(packed);
                NativeMemory.AlignedFree(edgeX);
                NativeMemory.AlignedFree(edgeY);
            }
        }

        /// <summary>
        /// packed[c·32 + r] = W[panel·32 + r, column + c] as float32 for c &lt; width; rows past the matrix are zero.
        /// </summary>
        private void Pack(int panel, int column, int width, float* packed)
        {
            float* row = stackalloc float[ColumnBlock];
            for (int r = 0; r < PanelRows; r++)
            {
                int matrixRow = panel * PanelRows + r;
                if (matrixRow < _rows) Widen(_data + matrixRow * _stride, column, width, row);
                else new Span<float>(row, width).Clear();
                for (int c = 0; c < width; c++) packed[c * PanelRows + r] = row[c];
            }
        }

        private static void Widen(byte* row, int column, int width, float* output)
        {
            int c = 0;
            for (; c + Lanes <= width; c += Lanes) TWeights.Load16(row, column + c).Store(output + c);
            for (; c < width; c++) output[c] = TWeights.Load1(row, column + c);
        }

        private void MultiplyTile(int token, int panel, int column, int width, float* packed, float* edgeX, float* edgeY)
        {
            int tileTokens = Math.Min(TileTokens, tokens - token), rowStart = panel * PanelRows;
            int tileRows = Math.Min(PanelRows, _rows - rowStart);
            bool first = column == 0;
            if (tileTokens == TileTokens && tileRows == PanelRows)
            {
                Tile8x32(x + (long)token * _cols + column, _cols, packed, width, y + (long)token * _rows + rowStart, _rows, accumulate: !first);
                return;
            }
            // A partial tile: the real tokens' activations next to zero rows, the product into scratch, the real part out.
            for (int t = 0; t < TileTokens; t++)
            {
                var destination = new Span<float>(edgeX + t * width, width);
                if (t < tileTokens) new ReadOnlySpan<float>(x + (long)(token + t) * _cols + column, width).CopyTo(destination);
                else destination.Clear();
            }
            Tile8x32(edgeX, width, packed, width, edgeY, PanelRows, accumulate: false);
            for (int t = 0; t < tileTokens; t++)
            {
                float* target = y + (long)(token + t) * _rows + rowStart;
                for (int r = 0; r < tileRows; r++)
                    target[r] = first ? edgeY[t * PanelRows + r] : target[r] + edgeY[t * PanelRows + r];
            }
        }
    }

    /// <summary>
    /// y[t·yStride + r] (+)= Σ_{c &lt; width} x[t·xStride + c] · packed[c·32 + r] for 8 tokens t and 32 rows r;
    /// <paramref name="accumulate"/> false overwrites y.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x32(float* x, long xStride, float* packed, int width, float* y, long yStride, bool accumulate)
    {
        float* x0 = x, x1 = x + xStride, x2 = x + 2 * xStride, x3 = x + 3 * xStride;
        float* x4 = x + 4 * xStride, x5 = x + 5 * xStride, x6 = x + 6 * xStride, x7 = x + 7 * xStride;
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector512<float> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        for (nint c = 0; c < width; c++)
        {
            Vector512<float> w0 = Vector512.Load(packed + c * PanelRows), w1 = Vector512.Load(packed + c * PanelRows + Lanes);
            Vector512<float> b = Vector512.Create(x0[c]);
            a00 = Vector512.FusedMultiplyAdd(b, w0, a00);
            a01 = Vector512.FusedMultiplyAdd(b, w1, a01);
            b = Vector512.Create(x1[c]);
            a10 = Vector512.FusedMultiplyAdd(b, w0, a10);
            a11 = Vector512.FusedMultiplyAdd(b, w1, a11);
            b = Vector512.Create(x2[c]);
            a20 = Vector512.FusedMultiplyAdd(b, w0, a20);
            a21 = Vector512.FusedMultiplyAdd(b, w1, a21);
            b = Vector512.Create(x3[c]);
            a30 = Vector512.FusedMultiplyAdd(b, w0, a30);
            a31 = Vector512.FusedMultiplyAdd(b, w1, a31);
            b = Vector512.Create(x4[c]);
            a40 = Vector512.FusedMultiplyAdd(b, w0, a40);
            a41 = Vector512.FusedMultiplyAdd(b, w1, a41);
            b = Vector512.Create(x5[c]);
            a50 = Vector512.FusedMultiplyAdd(b, w0, a50);
            a51 = Vector512.FusedMultiplyAdd(b, w1, a51);
            b = Vector512.Create(x6[c]);
            a60 = Vector512.FusedMultiplyAdd(b, w0, a60);
            a61 = Vector512.FusedMultiplyAdd(b, w1, a61);
            b = Vector512.Create(x7[c]);
            a70 = Vector512.FusedMultiplyAdd(b, w0, a70);
            a71 = Vector512.FusedMultiplyAdd(b, w1, a71);
        }
        Store(y, a00, a01, accumulate);
        Store(y + yStride, a10, a11, accumulate);
        Store(y + 2 * yStride, a20, a21, accumulate);
        Store(y + 3 * yStride, a30, a31, accumulate);
        Store(y + 4 * yStride, a40, a41, accumulate);
        Store(y + 5 * yStride, a50, a51, accumulate);
        Store(y + 6 * yStride, a60, a61, accumulate);
        Store(y + 7 * yStride, a70, a71, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, Vector512<float> low, Vector512<float> high, bool accumulate)
    {
        if (accumulate)
        {
            low += Vector512.Load(y);
            high += Vector512.Load(y + Lanes);
        }
        low.Store(y);
        high.Store(y + Lanes);
    }
}
