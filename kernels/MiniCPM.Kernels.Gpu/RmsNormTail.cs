using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The next RMSNorm (+ int8 blocks) as the tail of the projection that accumulates into the residual (decode: the
/// norm launch after the o and down projections gone). The "last group finishes" pattern (CUDA's
/// threadFenceReduction): when a group has written its rows of token t, every thread fences its writes device-wide,
/// then one thread counts the group in <see cref="Counters"/>[t]; the group that brings the count to
/// <see cref="Groups"/> is the last one for that token, so the whole row is final: it puts the counter back to 0 (the
/// next launch or graph replay starts from 0) and normalizes the row as <see cref="NormKernels.RmsNormInt8"/> does,
/// bit for bit. <see cref="Groups"/> counts the groups of every launch that writes part of the row (a projection
/// split by dtype), so the norm runs once, after the last of them.
/// </summary>
public struct RmsNormTail : IMatVecTail
{
    /// <summary>X: the rows the projection writes (whole rows of Cols); Y, Weight, Q, Eps: the norm's.</summary>
    public RmsNormInt8Args Norm;
    /// <summary>One per token, 0 between launches (<see cref="TokenCounters"/>).</summary>
    public ArrayView<int> Counters;
    /// <summary>Groups per token over every launch that writes part of the rows.</summary>
    public int Groups;

    public readonly void Finish(int token)
    {
        MemoryFence.DeviceLevel(); // this thread's outputs visible to every group before the count says they are there
        Group.Barrier();
        bool last = false;
        if (Group.IdxX == 0)
        {
            last = Atomic.Add(ref Counters[token], 1) == Groups - 1;
            if (last) Counters[token] = 0;
        }
        if (!Group.BarrierOr(last)) return;
        MemoryFence.DeviceLevel(); // the other groups' outputs are read after their count was seen
        NormKernels.RmsNormInt8Row(Norm, token, MatMulKernel.GroupSize);
    }
}
