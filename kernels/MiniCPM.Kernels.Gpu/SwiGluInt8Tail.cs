using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// SiLU·mul and its int8 blocks (<see cref="ElementwiseKernels.SiluMulFusedInt8"/>, bit for bit) as the tail of the
/// gate|up projection, for the down projection that reads them: the launch between the two is gone. The gate|up
/// row is [gate 0..Width) | up 0..Width)], and output block b (values 32b … 32b + 31) needs gate rows and up rows of
/// that range, written by several groups. A group's rows (<see cref="RowsPerGroup"/>, which divide 32) fall in one
/// block, so each group counts itself in that block's counter (<see cref="LastGroup"/>); the group that completes
/// the count is the last writer of both halves and makes the block with one warp. Unlike the norm tails that were
/// slower on an H200 (one group normalizing a 3584-wide row after every other group), the work after the last
/// arrival is one block of 32, and the blocks finish side by side.
/// </summary>
public struct SwiGluInt8Tail : IMatVecTail
{
    /// <summary>The product's whole gate|up rows (tokens × 2·Width, from column 0).</summary>
    public ArrayView<float> GateUp;
    /// <summary>SiLU(gate)·up as floats (tokens × Width) and as int8 blocks.</summary>
    public ArrayView<float> Y;
    public Int8Blocks Q;
    /// <summary>One per (token, block), 0 between launches.</summary>
    public ArrayView<int> Counters;
    public int Width, RowsPerGroup;

    /// <summary>Groups that write part of one block: its gate rows' and its up rows'.</summary>
    public readonly int Arrivals => 2 * 32 / RowsPerGroup;

    public readonly void Finish(int token, int group)
    {
        int blocks = Width / 32;
        int block = group * RowsPerGroup % Width / 32;
        if (!LastGroup.Arrive(Counters, token * blocks + block, Arrivals)) return;
        if (Group.IdxX >= 32) return; // one warp makes the block; QuantizeQuad needs all of its lanes
        int lane = Group.IdxX;
        bool active = lane < 8; // 8 lanes × 4 values
        int quad = block * 8 + lane;
        Float4 value = default;
        if (active)
        {
            var gu = GateUp.Cast<Float4>();
            int rowQuads = Width / 4;
            long gate = (long)token * 2 * rowQuads + quad;
            Float4 g = gu[gate], u = gu[gate + rowQuads];
            value = new Float4(ElementwiseKernels.SiluTimes(g.X, u.X), ElementwiseKernels.SiluTimes(g.Y, u.Y),
                ElementwiseKernels.SiluTimes(g.Z, u.Z), ElementwiseKernels.SiluTimes(g.W, u.W));
            Y.Cast<Float4>()[(long)token * rowQuads + quad] = value;
        }
        Int8Quantizer.QuantizeQuad(value, Q, (long)token * Q.BlocksPerToken + block, active);
    }
}
