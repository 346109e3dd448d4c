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
/// NeoX rotary embedding of q and k in place (element i pairs with i + d/2), fused with the KV-cache write: the
/// threads of the key heads store the rotated key pair and the value pair at the row's cache slot. One thread per
/// (row, head of q then k, pair).
/// </summary>
public static class RopeKernel
{
    public static void Kernel(Index1D index, RopeArgs a)
    {
        int half = a.HeadDim / 2;
        int pair = index % half;
        int rest = index / half;
        int headsPerRow = a.Heads + a.KvHeads;
        int head = rest % headsPerRow;
        int row = rest / headsPerRow;
        int position = a.Positions[row];
        float cos = a.Cos[(long)position * half + pair], sin = a.Sin[(long)position * half + pair];
        if (head < a.Heads)
        {
            long i = (long)row * a.RowStride + head * a.HeadDim + pair;
            float x1 = a.Qkv[i], x2 = a.Qkv[i + half];
            a.Qkv[i] = x1 * cos - x2 * sin;
            a.Qkv[i + half] = x2 * cos + x1 * sin;
        }
        else
        {
            int kvHead = head - a.Heads;
            int kvWidth = a.KvHeads * a.HeadDim;
            long i = (long)row * a.RowStride + a.Heads * a.HeadDim + kvHead * a.HeadDim + pair;
            long value = i + kvWidth;
            float x1 = a.Qkv[i], x2 = a.Qkv[i + half];
            float k1 = x1 * cos - x2 * sin, k2 = x2 * cos + x1 * sin;
            a.Qkv[i] = k1;
            a.Qkv[i + half] = k2;
            long slot = (long)a.Slots[row] * kvWidth + kvHead * a.HeadDim + pair;
            a.KeyCache[slot] = k1;
            a.KeyCache[slot + half] = k2;
            a.ValueCache[slot] = a.Qkv[value];
            a.ValueCache[slot + half] = a.Qkv[value + half];
        }
    }
}
