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
}
