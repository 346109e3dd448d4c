using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Arguments of <see cref="RopeKernel"/>: the rows' q [rows, heads·d] and k, v [rows, kvHeads·d], their positions and
/// KV-cache slots, and a host-computed cos/sin table ([position, d/2] each) so the angles round exactly as the CPU's.
/// </summary>
public struct RopeArgs
{
    public ArrayView<float> Query, Key, Value;
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
            long i = ((long)row * a.Heads + head) * a.HeadDim + pair;
            float x1 = a.Query[i], x2 = a.Query[i + half];
            a.Query[i] = x1 * cos - x2 * sin;
            a.Query[i + half] = x2 * cos + x1 * sin;
        }
        else
        {
            int kvHead = head - a.Heads;
            int kvWidth = a.KvHeads * a.HeadDim;
            long i = (long)row * kvWidth + kvHead * a.HeadDim + pair;
            float x1 = a.Key[i], x2 = a.Key[i + half];
            float k1 = x1 * cos - x2 * sin, k2 = x2 * cos + x1 * sin;
            a.Key[i] = k1;
            a.Key[i + half] = k2;
            long slot = (long)a.Slots[row] * kvWidth + kvHead * a.HeadDim + pair;
            a.KeyCache[slot] = k1;
            a.KeyCache[slot + half] = k2;
            a.ValueCache[slot] = a.Value[i];
            a.ValueCache[slot + half] = a.Value[i + half];
        }
    }
}
