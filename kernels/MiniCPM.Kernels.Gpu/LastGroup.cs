using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// "The last group finishes" (CUDA's threadFenceReduction): several groups of one launch write parts of a result, and
/// whichever group finishes last does the work that needs all of it, in the same launch instead of a second one.
/// </summary>
internal static class LastGroup
{
    /// <summary>
    /// Called by every thread of the group once its outputs for item <paramref name="index"/> are written: every
    /// thread fences its writes device-wide, then one thread counts the group in <paramref name="counters"/>; the
    /// group that brings the count to <paramref name="groups"/> puts it back to 0 (the next launch or graph replay
    /// starts from 0) and gets true, on every thread, after a fence that makes the other groups' outputs readable.
    /// </summary>
    public static bool Arrive(ArrayView<int> counters, int index, int groups)
    {
        MemoryFence.DeviceLevel(); // this thread's outputs visible to every group before the count says they are there
        Group.Barrier();
        bool last = false;
        if (Group.IdxX == 0)
        {
            last = Atomic.Add(ref counters[index], 1) == groups - 1;
            if (last) counters[index] = 0;
        }
        if (!Group.BarrierOr(last)) return false;
        MemoryFence.DeviceLevel(); // the other groups' outputs are read after their count was seen
        return true;
    }
}
