namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// What a matrix-vector group does once its outputs for a token are written (<see cref="Int8MatVecKernel"/>): every
/// thread of the group calls <see cref="Finish"/>, so a tail may use barriers. <see cref="NoTail"/> for the plain
/// product; <see cref="RmsNormTail"/> makes the next norm in the same launch, <see cref="SwiGluInt8Tail"/> SiLU·mul.
/// </summary>
public interface IMatVecTail
{
    /// <param name="token">The token the group computed.</param>
    /// <param name="group">Which of the token's groups it was: its rows are group·RowsPerGroup … (the grid's index
    /// also counts the tokens).</param>
    void Finish(int token, int group);
}

/// <summary>No tail: the plain product (the compiler drops the empty call).</summary>
public struct NoTail : IMatVecTail
{
    public readonly void Finish(int token, int group)
    {
    }
}
