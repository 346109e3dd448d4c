using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The next RMSNorm (+ int8 blocks) as the tail of the projection that accumulates into the residual (decode: the
/// norm launch after the o and down projections gone). When a group has written its rows of token t it counts itself
/// in <see cref="Counters"/>[t] (<see cref="LastGroup"/>); the group that brings the count to <see cref="Groups"/> is
/// the last one for that token, so the whole row is final, and it normalizes the row as
/// <see cref="NormKernels.RmsNormInt8"/> does, bit for bit. <see cref="Groups"/> counts the groups of every launch
/// that writes part of the row (a projection split by dtype), so the norm runs once, after the last of them.
/// </summary>
public struct RmsNormTail : IMatVecTail
{
    /// <summary>X: the rows the projection writes (whole rows of Cols); Y, Weight, Q, Eps: the norm's.</summary>
    public RmsNormInt8Args Norm;
    /// <summary>One per token, 0 between launches (<see cref="TokenCounters"/>).</summary>
    public ArrayView<int> Counters;
    /// <summary>Groups per token over every launch that writes part of the rows.</summary>
    public int Groups;

    public readonly void Finish(int token, int group)
    {
        if (LastGroup.Arrive(Counters, token, Groups)) NormKernels.RmsNormInt8Row(Norm, token, MatMulKernel.GroupSize);
    }
}
