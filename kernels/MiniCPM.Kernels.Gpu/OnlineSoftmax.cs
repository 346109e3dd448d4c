using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// One query's running softmax over tiles of 32 keys (one key per lane of a warp): the max so far, the denominator,
/// and this lane's four unnormalized output dimensions (lane, lane + 32, lane + 64, lane + 96). Fields, not an array,
/// so the state stays in registers.
/// </summary>
internal struct OnlineSoftmax
{
    public float Max, Sum, O0, O1, O2, O3;

    public static OnlineSoftmax Empty => new() { Max = float.NegativeInfinity };

    /// <summary>
    /// One step over a tile's scores (one per lane; <paramref name="real"/> false for a key past the tile or masked):
    /// rescales the state to the new running max and returns this lane's weight exp(score − max). The first step must
    /// see at least one real key (exp(−∞ − max) = 0 then; −∞ − (−∞) would be NaN).
    /// </summary>
    public static float Weight(ref OnlineSoftmax s, float score, bool real)
    {
        float max = IntrinsicMath.Max(s.Max, WarpMath.Max(real ? score : float.NegativeInfinity));
        float weight = real ? XMath.Exp(score - max) : 0;
        float correction = XMath.Exp(s.Max - max);
        s.Sum = s.Sum * correction + WarpMath.Sum(weight);
        s.O0 *= correction; s.O1 *= correction; s.O2 *= correction; s.O3 *= correction;
        s.Max = max;
        return weight;
    }

    public void Accumulate(float weight, float v0, float v1, float v2, float v3)
    {
        O0 += weight * v0; O1 += weight * v1; O2 += weight * v2; O3 += weight * v3;
    }

    /// <summary>
    /// The score half of a tile step for a warp's four queries (rows q0..q0 + 3 of <paramref name="queries"/>, d floats
    /// each): lane j scores key j of the tile (row j at j·<paramref name="keyStride"/>); lanes past
    /// <paramref name="keys"/> get zeros.
    /// </summary>
    public static void ScoreTile(ArrayView<float> keysTile, int keyStride, ArrayView<float> queries, int q0, int d,
        int lane, int keys, out float score0, out float score1, out float score2, out float score3)
    {
        score0 = 0; score1 = 0; score2 = 0; score3 = 0;
        if (lane >= keys) return;
        int k = lane * keyStride;
        for (int e = 0; e < d; e++)
        {
            float kv = keysTile[k + e];
            score0 += kv * queries[q0 * d + e];
            score1 += kv * queries[(q0 + 1) * d + e];
            score2 += kv * queries[(q0 + 2) * d + e];
            score3 += kv * queries[(q0 + 3) * d + e];
        }
    }

    /// <summary>
    /// The value half of a tile step for a warp's four queries: keys 0..<paramref name="keys"/> − 1 of the tile's
    /// values (row j at j·d in shared memory), each lane adding its output dimensions; the weights (lane j holds key
    /// j's) reach every lane by shuffles.
    /// </summary>
    public static void AccumulateTile(ref OnlineSoftmax s0, ref OnlineSoftmax s1, ref OnlineSoftmax s2, ref OnlineSoftmax s3,
        ArrayView<float> values, int keys, int d, int lane, float w0, float w1, float w2, float w3)
    {
        bool has0 = lane < d, has1 = lane + 32 < d, has2 = lane + 64 < d, has3 = lane + 96 < d;
        for (int j = 0; j < keys; j++)
        {
            int v = j * d + lane;
            float v0 = has0 ? values[v] : 0, v1 = has1 ? values[v + 32] : 0;
            float v2 = has2 ? values[v + 64] : 0, v3 = has3 ? values[v + 96] : 0;
            s0.Accumulate(Warp.Shuffle(w0, j), v0, v1, v2, v3);
            s1.Accumulate(Warp.Shuffle(w1, j), v0, v1, v2, v3);
            s2.Accumulate(Warp.Shuffle(w2, j), v0, v1, v2, v3);
            s3.Accumulate(Warp.Shuffle(w3, j), v0, v1, v2, v3);
        }
    }
}
