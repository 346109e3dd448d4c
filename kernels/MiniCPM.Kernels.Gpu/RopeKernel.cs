using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Arguments of <see cref="RopeKernel"/>: the rows of the fused projection [q (heads·d) | k (kvHeads·d) | v (kvHeads·d)],
/// RowStride floats apart; their positions and KV-cache slots; a host-computed cos/sin table ([position, d/2] each) so
/// the angles round exactly as the CPU's.
/// </summary>
public struct RopeArgs
{
    public ArrayView<float> Qkv;
    public int RowStride;
    public ArrayView<int> Positions, Slots;
    public ArrayView<float> Cos, Sin;
    /// <summary>This layer's cache: [slot, kvHeads·d] keys and values.</summary>
    public ArrayView<float> KeyCache, ValueCache;
    public int Heads, KvHeads, HeadDim;
}

/// <summary>
/// NeoX rotary embedding of q and k in place (element i pairs with i + d/2), fused with the KV-cache write of the
/// rotated k and of v. One thread per (row, head of q, k then v, pair).
/// </summary>
public static class RopeKernel
{
    public static void Kernel(Index1D index, RopeArgs a)
    {
        int half = a.HeadDim / 2;
        int pair = index % half;
        int rest = index / half;
        int headsPerRow = a.Heads + 2 * a.KvHeads;
        int head = rest % headsPerRow;
        int row = rest / headsPerRow;
        long i = (long)row * a.RowStride + head * a.HeadDim + pair;
        Store(a, row, head * a.HeadDim + pair, a.Qkv[i], a.Qkv[i + half]);
    }

    /// <summary>
    /// The pair (x1, x2) of q|k|v columns (<paramref name="column"/>, column + d/2) of <paramref name="row"/>, as the
    /// projection made it: q and k rotated by the row's position (x1·cos − x2·sin, x2·cos + x1·sin) back into Qkv, and
    /// k and v also into the cache at the row's slot. Shared by this kernel and <see cref="RopeCacheOutput"/> (the
    /// projection's fused epilogue), so both round alike.
    /// </summary>
    public static void Store(RopeArgs a, int row, int column, float x1, float x2)
    {
        int half = a.HeadDim / 2;
        int qWidth = a.Heads * a.HeadDim, kvWidth = a.KvHeads * a.HeadDim;
        if (column < qWidth + kvWidth)
        {
            int pair = column % a.HeadDim;
            long angle = (long)a.Positions[row] * half + pair;
            float cos = a.Cos[angle], sin = a.Sin[angle];
            float r1 = x1 * cos - x2 * sin, r2 = x2 * cos + x1 * sin;
            x1 = r1;
            x2 = r2;
        }
        long i = (long)row * a.RowStride + column;
        a.Qkv[i] = x1;
        a.Qkv[i + half] = x2;
        if (column < qWidth) return;
        long slot = (long)a.Slots[row] * kvWidth + column - qWidth;
        if (column < qWidth + kvWidth)
        {
            a.KeyCache[slot] = x1;
            a.KeyCache[slot + half] = x2;
        }
        else
        {
            a.ValueCache[slot - kvWidth] = x1;
            a.ValueCache[slot - kvWidth + half] = x2;
        }
    }
}
