namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// What a matrix-vector group does once its outputs for a token are written (<see cref="Int8MatVecKernel"/>): every
/// thread of the group calls <see cref="Finish"/>, so a tail may use barriers. <see cref="NoTail"/> for the plain
/// product; <see cref="RmsNormTail"/> makes the next norm in the same launch.
/// </summary>
public interface IMatVecTail
{
    void Finish(int token);
}

/// <summary>No tail: the plain product (the compiler drops the empty call).</summary>
public struct NoTail : IMatVecTail
{
    public readonly void Finish(int token)
    {
    }
}
