using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// <see cref="TiledMatMulKernel"/>'s product (prefill, the vision and audio towers) on the TF32 tensor cores, at
/// float32 accuracy: every weight w and activation x is split into a TF32 high part and a TF32 low part (x = xh + xl,
/// |x − xh − xl| ≤ 2⁻²² |x|), and each 32-column unit adds wl·xh + wh·xl + wh·xh through three
/// <see cref="ITf32Mma"/> products (the dropped wl·xl is below 2⁻²⁰ of w·x). This is the "3xTF32" scheme; plain TF32
/// (wh·xh alone) would err by ~10⁻³ per product, outside the golden budget. F16 and BF16 weights are TF32 already
/// (<c>weightsAreTf32</c> = 1: every F16 and BF16 value is exact in TF32, whose mantissa is F16's and whose exponent
/// is BF16's), so their wl·xh product, all zeros, is skipped: two products per step instead of three.
/// <para>
/// Same tiles, loaders and arguments as the tiled kernel: a group of 8 warps owns <see cref="TileRows"/> weight rows ×
/// <see cref="TileTokens"/> tokens and walks the columns one 32-column unit at a time. The row format dequantizes
/// each unit into shared memory, where the split is made once per value; each warp then multiplies a 32 rows ×
/// 16 tokens block (2 × 2 instruction tiles) over the unit's four 8-column steps. The next unit's weights and
/// activations are loaded into registers while the tensor cores work on the current one.
/// </para>
/// A <see cref="MatMulBatch"/> runs several such products, one per grid z index.
/// <typeparamref name="TMma"/>: <see cref="Tf32MmaInstruction"/> on CUDA, <see cref="Tf32MmaEmulation"/> on the simulator.
/// </summary>
public static class TensorCoreMatMulKernel
{
    public const int TileRows = TiledMatMulKernel.TileRows; // the tiles TileLoads fills
    public const int TileTokens = TiledMatMulKernel.TileTokens;
    public const int GroupSize = 256;
    private const int UnitCols = 32;
    /// <summary>Floats per column of a shared tile: 64 rows (tokens) + 8, so one fragment load (4 columns × 8 rows)
    /// falls in 32 different banks.</summary>
    private const int Stride = TileRows + 8;

    public static void Kernel<TFormat, TMma>(MatMulArgs<TFormat, RowPairStore> a, int weightsAreTf32, MatMulBatch batch) where TFormat : struct, IRowFormat where TMma : struct, ITf32Mma
    {
        var mma = default(TMma);
        // Column-major tiles as in the tiled kernel: [k · Stride + row], k = the column's place in the unit (0..15
        // piece A, 16..31 piece B).
        var wHigh = SharedMemory.Allocate<float>(UnitCols * Stride);
        var wLow = SharedMemory.Allocate<float>(UnitCols * Stride);
        var xHigh = SharedMemory.Allocate<float>(UnitCols * Stride);
        var xLow = SharedMemory.Allocate<float>(UnitCols * Stride);
        int thread = Group.IdxX, warp = thread / 32, lane = thread % 32;
        int g = lane >> 2, t = lane & 3;
        int row0 = Grid.IdxX * TileRows, token0 = Grid.IdxY * TileTokens;
        int warpRow = (warp & 1) * 32, warpToken = (warp >> 1) * 16;

        var loads = new TileLoads<TFormat>(a, batch, thread);
        int xSlot = loads.Quarter * 8 * Stride + loads.Token;
        var w = loads.LoadsWeights ? loads.Weights(0) : default;
        loads.Activations(0, out var v0, out var v1);

        // Running sums per instruction tile: (rows +0, tokens +0), (rows +16, +0), (+0, tokens +8), (+16, +8).
        float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        float s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        int units = a.Cols / UnitCols;
        for (int unit = 0; unit < units; unit++)
        {
            // The unit's products go into fresh accumulators, added to the running sums by ordinary (round-to-
            // nearest) float adds after the unit. Tensor cores may round their accumulator toward zero (reported for
            // A100): one accumulator over all of a long row would drift by up to an ulp per instruction, always the
            // same way; a unit's 8–12 instructions on a small partial sum cannot.
            float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
            if (loads.LoadsWeights) StoreUnit(wHigh, wLow, thread, w, split: weightsAreTf32 == 0);
            StoreActivations(xHigh, xLow, xSlot, v0, v1);
            Group.Barrier(); // the tiles are complete

            if (unit + 1 < units)
            {
                if (loads.LoadsWeights) w = loads.Weights(unit + 1);
                loads.Activations(unit + 1, out v0, out v1);
            }

            for (int k0 = 0; k0 < UnitCols; k0 += 8)
            {
                int near = (k0 + t) * Stride, far = near + 4 * Stride;
                int r0 = warpRow + g, r1 = r0 + 16;
                int n0 = warpToken + g, n1 = n0 + 8;
                // B fragments (activations) of the two token tiles, high and low parts.
                float xh00 = xHigh[near + n0], xh01 = xHigh[far + n0], xh10 = xHigh[near + n1], xh11 = xHigh[far + n1];
                float xl00 = xLow[near + n0], xl01 = xLow[far + n0], xl10 = xLow[near + n1], xl11 = xLow[far + n1];

                // Small terms first, so they are summed before the large one joins. Weights that are TF32 already
                // (F16, BF16) have no low part: their wl·xh products would add zeros.
                if (weightsAreTf32 == 0)
                {
                    float l00 = wLow[near + r0], l01 = wLow[near + r0 + 8], l02 = wLow[far + r0], l03 = wLow[far + r0 + 8];
                    float l10 = wLow[near + r1], l11 = wLow[near + r1 + 8], l12 = wLow[far + r1], l13 = wLow[far + r1 + 8];
                    mma.MultiplyAdd(ref c00, ref c01, ref c02, ref c03, l00, l01, l02, l03, xh00, xh01);
                    mma.MultiplyAdd(ref c10, ref c11, ref c12, ref c13, l10, l11, l12, l13, xh00, xh01);
                    mma.MultiplyAdd(ref c20, ref c21, ref c22, ref c23, l00, l01, l02, l03, xh10, xh11);
                    mma.MultiplyAdd(ref c30, ref c31, ref c32, ref c33, l10, l11, l12, l13, xh10, xh11);
                }
                // A fragments (weights) of the two row tiles.
                float h00 = wHigh[near + r0], h01 = wHigh[near + r0 + 8], h02 = wHigh[far + r0], h03 = wHigh[far + r0 + 8];
                float h10 = wHigh[near + r1], h11 = wHigh[near + r1 + 8], h12 = wHigh[far + r1], h13 = wHigh[far + r1 + 8];
                mma.MultiplyAdd(ref c00, ref c01, ref c02, ref c03, h00, h01, h02, h03, xl00, xl01);
                mma.MultiplyAdd(ref c00, ref c01, ref c02, ref c03, h00, h01, h02, h03, xh00, xh01);
                mma.MultiplyAdd(ref c10, ref c11, ref c12, ref c13, h10, h11, h12, h13, xl00, xl01);
                mma.MultiplyAdd(ref c10, ref c11, ref c12, ref c13, h10, h11, h12, h13, xh00, xh01);
                mma.MultiplyAdd(ref c20, ref c21, ref c22, ref c23, h00, h01, h02, h03, xl10, xl11);
                mma.MultiplyAdd(ref c20, ref c21, ref c22, ref c23, h00, h01, h02, h03, xh10, xh11);
                mma.MultiplyAdd(ref c30, ref c31, ref c32, ref c33, h10, h11, h12, h13, xl10, xl11);
                mma.MultiplyAdd(ref c30, ref c31, ref c32, ref c33, h10, h11, h12, h13, xh10, xh11);
            }
            Group.Barrier(); // everyone is done with the tiles before the next unit overwrites them
            s00 += c00; s01 += c01; s02 += c02; s03 += c03; s10 += c10; s11 += c11; s12 += c12; s13 += c13;
            s20 += c20; s21 += c21; s22 += c22; s23 += c23; s30 += c30; s31 += c31; s32 += c32; s33 += c33;
        }

        // Accumulator fragment: ·0 = (row g, token 2t), ·1 = (g, 2t + 1), ·2 = (g + 8, 2t), ·3 = (g + 8, 2t + 1).
        int row = row0 + warpRow + g, token = token0 + warpToken + 2 * t;
        long y = Grid.IdxZ * batch.Y;
        WriteTile(a, y, row, token, s00, s01, s02, s03);
        WriteTile(a, y, row + 16, token, s10, s11, s12, s13);
        WriteTile(a, y, row, token + 8, s20, s21, s22, s23);
        WriteTile(a, y, row + 16, token + 8, s30, s31, s32, s33);
    }

    private static void StoreActivations(ArrayView<float> high, ArrayView<float> low, int slot, Float4 v0, Float4 v1)
    {
        StoreSplit(high, low, slot, v0.X);
        StoreSplit(high, low, slot + Stride, v0.Y);
        StoreSplit(high, low, slot + 2 * Stride, v0.Z);
        StoreSplit(high, low, slot + 3 * Stride, v0.W);
        StoreSplit(high, low, slot + 4 * Stride, v1.X);
        StoreSplit(high, low, slot + 5 * Stride, v1.Y);
        StoreSplit(high, low, slot + 6 * Stride, v1.Z);
        StoreSplit(high, low, slot + 7 * Stride, v1.W);
    }

    /// <summary>The unit's 32 true weights (scale · level + offset), split, into the column-major tiles at <paramref name="row"/>.</summary>
    /// <remarks><paramref name="split"/> false: the weights are TF32 already and only the high tile is written.</remarks>
    private static void StoreUnit(ArrayView<float> high, ArrayView<float> low, int row, Unit32 w, bool split)
    {
        StorePiece(high, low, row, w.A0, w.A1, w.A2, w.A3, w.ScaleA, w.OffsetA, split);
        StorePiece(high, low, row + 16 * Stride, w.B0, w.B1, w.B2, w.B3, w.ScaleB, w.OffsetB, split);
    }

    private static void StorePiece(ArrayView<float> high, ArrayView<float> low, int at, Float4 q0, Float4 q1, Float4 q2, Float4 q3,
        float scale, float offset, bool split)
    {
        Store4(high, low, at, q0, scale, offset, split);
        Store4(high, low, at + 4 * Stride, q1, scale, offset, split);
        Store4(high, low, at + 8 * Stride, q2, scale, offset, split);
        Store4(high, low, at + 12 * Stride, q3, scale, offset, split);
    }

    private static void Store4(ArrayView<float> high, ArrayView<float> low, int at, Float4 q, float scale, float offset, bool split)
    {
        StoreWeight(high, low, at, scale * q.X + offset, split);
        StoreWeight(high, low, at + Stride, scale * q.Y + offset, split);
        StoreWeight(high, low, at + 2 * Stride, scale * q.Z + offset, split);
        StoreWeight(high, low, at + 3 * Stride, scale * q.W + offset, split);
    }

    private static void StoreWeight(ArrayView<float> high, ArrayView<float> low, int at, float value, bool split)
    {
        if (split) StoreSplit(high, low, at, value);
        else high[at] = value;
    }

    /// <summary>value = high + low (+ a rounding below 2⁻²² |value|), both TF32. A non-finite high part gets a zero low
    /// part rather than inf − inf. Products with an infinite activation still come out NaN (0·inf among the three
    /// products) where the CUDA-core kernel gives ±inf: non-finite either way, and kept to that token's sums.</summary>
    private static void StoreSplit(ArrayView<float> high, ArrayView<float> low, int at, float value)
    {
        float h = Tf32.Round(value);
        high[at] = h;
        low[at] = (Interop.FloatAsInt(h) & 0x7F800000u) == 0x7F800000u ? 0f : Tf32.Round(value - h);
    }

    /// <summary>One instruction tile's four sums of this lane: rows row and row + 8, tokens token and token + 1.</summary>
    private static void WriteTile<TFormat>(MatMulArgs<TFormat, RowPairStore> a, long y, int row, int token, float s0, float s1, float s2, float s3)
        where TFormat : struct, IRowFormat
    {
        Write(a, y, row, token, s0);
        Write(a, y, row, token + 1, s1);
        Write(a, y, row + 8, token, s2);
        Write(a, y, row + 8, token + 1, s3);
    }

    private static void Write<TFormat>(MatMulArgs<TFormat, RowPairStore> a, long y, int row, int token, float sum) where TFormat : struct, IRowFormat
    {
        if (row >= a.Rows || token >= a.Tokens) return;
        if (a.Output.HasBias != 0) sum += a.Output.Bias[row];
        long index = y + (long)token * a.Output.YStride + row;
        if (a.Output.Accumulate != 0) sum += a.Output.Y[index];
        a.Output.Y[index] = sum;
    }
}
