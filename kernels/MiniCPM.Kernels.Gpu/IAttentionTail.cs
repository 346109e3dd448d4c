namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// What a split-K attention group does once its chunk's softmax state is written (<see cref="SplitAttentionKernel"/>):
/// every thread of the group calls <see cref="Finish"/>, so a tail may use barriers. <see cref="NoAttentionTail"/>
/// leaves the merge to its own launch; <see cref="AttentionMergeTail"/> merges in the same launch.
/// </summary>
public interface IAttentionTail
{
    void Finish(SplitAttentionArgs s, int row, int kvHead);
}

/// <summary>No tail: <see cref="SplitAttentionKernel.Merge"/> or <see cref="SplitAttentionKernel.MergeInt8"/> follows.</summary>
public struct NoAttentionTail : IAttentionTail
{
    public readonly void Finish(SplitAttentionArgs s, int row, int kvHead)
    {
    }
}
