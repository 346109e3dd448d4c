namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// One warp's 16×8 += 16×8 · 8×8 product on the TF32 tensor cores (<c>mma.sync.aligned.m16n8k8</c>, sm_80 and up).
/// TF32 keeps float32's exponent and 10 of its 23 mantissa bits; products of two TF32 values are exact in float32 and
/// the tensor core sums them in float32.
/// <para>Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32), with g = lane / 4 and t = lane % 4:</para>
/// <code>
/// A (16×8):  a0 = A[g][t]    a1 = A[g+8][t]    a2 = A[g][t+4]    a3 = A[g+8][t+4]
/// B (8×8):   b0 = B[t][g]    b1 = B[t+4][g]
/// C (16×8):  c0 = C[g][2t]   c1 = C[g][2t+1]   c2 = C[g+8][2t]   c3 = C[g+8][2t+1]
/// </code>
/// Two implementations, chosen by the kernel's type argument: <see cref="Tf32MmaInstruction"/> (the instruction, on
/// CUDA) and <see cref="Tf32MmaEmulation"/> (the same table through shared memory, on ILGPU's simulator, so the
/// simulator tests check a kernel's fragment bookkeeping). Every thread of the group calls it together.
/// </summary>
public interface ITf32Mma
{
    /// <summary>(d0, d1, d2, d3) += A·B for this lane's fragments; a and b must already be TF32 (<see cref="Tf32.Round"/>).</summary>
    void MultiplyAdd(ref float d0, ref float d1, ref float d2, ref float d3, float a0, float a1, float a2, float a3, float b0, float b1);
}
