using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The split-K merge as the attention kernel's tail: the last chunk group of each (row, KV head) to finish
/// (<see cref="LastGroup"/>) merges that KV head's query heads, one warp per head, exactly as
/// <see cref="SplitAttentionKernel.Merge"/> (or, with <see cref="Quantize"/>, <see cref="SplitAttentionKernel.MergeInt8"/>)
/// would after it — one launch instead of two. Unlike <see cref="RmsNormTail"/>, whose last group normalizes a whole
/// row alone, each (row, KV head) has its own last group, so the merges run side by side.
/// </summary>
public struct AttentionMergeTail : IAttentionTail
{
    /// <summary>One per (row, KV head) at row · KV heads + KV head, 0 between launches.</summary>
    public ArrayView<int> Counters;
    /// <summary>Where the output's int8 blocks go when <see cref="Quantize"/> is 1.</summary>
    public Int8Blocks Q;
    public int Quantize;

    public readonly void Finish(SplitAttentionArgs s, int row, int kvHead)
    {
        var a = s.Attention;
        int kvHeads = a.Heads / a.GroupSize, chunks = a.Positions[row] / s.ChunkSize + 1; // the groups that did work
        if (!LastGroup.Arrive(Counters, row * kvHeads + kvHead, chunks)) return;
        int head = Group.IdxX >> 5; // one warp per query head; nothing below waits on the group
        if (head >= a.GroupSize) return;
        int rowHead = row * a.Heads + kvHead * a.GroupSize + head;
        if (Quantize != 0) SplitAttentionKernel.MergeRowHeadInt8(s, Q, rowHead);
        else SplitAttentionKernel.MergeRowHead(s, rowHead);
    }
}
