using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q8_0 split on upload into aligned quants (two 16-byte words per 32-value block) and the fp16 scales beside them,
/// so each block is two vector loads plus one 2-byte load. w = d·q, q signed bytes.
/// </summary>
public struct Q8_0Rows : IRowFormat, IInt8RowFormat<Q8_0Rows.Words>
{
    public ArrayView<UInt4> Quants;
    public ArrayView<ushort> Scales;
    public int BlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        long block = (long)row * BlocksPerRow + unit;
        float d = (float)Interop.IntAsFloat(Scales[block]);
        var u = new Unit32 { ScaleA = d, ScaleB = d };
        var w = Quants[2 * block];
        u.A0 = Bytes(w.X); u.A1 = Bytes(w.Y); u.A2 = Bytes(w.Z); u.A3 = Bytes(w.W);
        w = Quants[2 * block + 1];
        u.B0 = Bytes(w.X); u.B1 = Bytes(w.Y); u.B2 = Bytes(w.Z); u.B3 = Bytes(w.W);
        return u;
    }

    /// <summary>One block's 32 signed bytes and fp16 scale.</summary>
    public struct Words
    {
        public UInt4 A, B;
        public ushort Scale;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * BlocksPerRow; // loop-invariant: the block's offset stays 32-bit (Q4_KRows.Fetch)
        var quants = Quants.SubView(2 * start);
        return new Words { A = quants[2 * block], B = quants[2 * block + 1], Scale = Scales.SubView(start)[block] };
    }

    /// <summary>d_x·d·Σ q·x_q, signed bytes against signed bytes.</summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        var a = words.A;
        var b = words.B;
        int sum = Int8Math.Dp4a(a.X, x.Low.X, 0);
        sum = Int8Math.Dp4a(a.Y, x.Low.Y, sum);
        sum = Int8Math.Dp4a(a.Z, x.Low.Z, sum);
        sum = Int8Math.Dp4a(a.W, x.Low.W, sum);
        sum = Int8Math.Dp4a(b.X, x.High.X, sum);
        sum = Int8Math.Dp4a(b.Y, x.High.Y, sum);
        sum = Int8Math.Dp4a(b.Z, x.High.Z, sum);
        sum = Int8Math.Dp4a(b.W, x.High.W, sum);
        return x.Scale * ((float)Interop.IntAsFloat(words.Scale) * sum);
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;

    private static Float4 Bytes(uint w) =>
        new(Bits.SignedByteFast(w, 0), Bits.SignedByteFast(w, 1), Bits.SignedByteFast(w, 2), Bits.SignedByteFast(w, 3));
}
