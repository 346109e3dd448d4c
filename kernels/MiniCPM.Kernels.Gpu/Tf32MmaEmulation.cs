using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// <see cref="ITf32Mma"/> computed from <see cref="ITf32Mma"/>'s fragment table, for ILGPU's simulator. Every thread
/// leaves its fragments in shared memory; lane (g, t) then reads rows g and g + 8 of A from lanes 4g … 4g + 3 of its
/// warp and columns 2t and 2t + 1 of B from lanes 8t … 8t + 7. Two group barriers serve every warp's instruction at
/// once: the simulator pays per barrier or shuffle, and one shuffle would move one value of one warp. The sums run
/// in another order than the tensor core's, so results agree with the hardware to float32 rounding, not bit for bit.
/// </summary>
public struct Tf32MmaEmulation : ITf32Mma
{
    /// <summary>Threads of a group it can serve (one A and one B fragment each in shared memory).</summary>
    public const int MaxGroupSize = 256;

    public readonly void MultiplyAdd(ref float d0, ref float d1, ref float d2, ref float d3,
        float a0, float a1, float a2, float a3, float b0, float b1)
    {
        var aFragments = SharedMemory.Allocate<Float4>(MaxGroupSize);
        var bFragments = SharedMemory.Allocate<Float4>(MaxGroupSize);
        int thread = Group.IdxX, lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        int warp = thread - lane;
        aFragments[thread] = new Float4(a0, a1, a2, a3);
        bFragments[thread] = new Float4(b0, b1, 0, 0);
        Group.Barrier();
        float s0 = d0, s1 = d1, s2 = d2, s3 = d3;
        for (int j = 0; j < 4; j++)
        {
            var rows = aFragments[warp + 4 * g + j];      // A[g][j], A[g+8][j], A[g][j+4], A[g+8][j+4]
            var left = bFragments[warp + 8 * t + j];      // B[j][2t], B[j+4][2t]
            var right = bFragments[warp + 8 * t + 4 + j]; // B[j][2t+1], B[j+4][2t+1]
            s0 += rows.X * left.X + rows.Z * left.Y;
            s1 += rows.X * right.X + rows.Z * right.Y;
            s2 += rows.Y * left.X + rows.W * left.Y;
            s3 += rows.Y * right.X + rows.W * right.Y;
        }
        Group.Barrier(); // every read is done before the next call overwrites the fragments
        d0 = s0; d1 = s1; d2 = s2; d3 = s3;
    }
}
