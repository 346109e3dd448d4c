using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>F32 rows: 8 16-byte words per unit, columns in order.</summary>
public struct F32Rows : IRowFormat
{
    public ArrayView<UInt4> Words;
    public int WordsPerRow;

    public Unit32 Load(int row, int unit)
    {
        long i = (long)row * WordsPerRow + 8 * unit;
        var u = new Unit32 { ScaleA = 1, ScaleB = 1 };
        u.A0 = Floats(Words[i]); u.A1 = Floats(Words[i + 1]); u.A2 = Floats(Words[i + 2]); u.A3 = Floats(Words[i + 3]);
        u.B0 = Floats(Words[i + 4]); u.B1 = Floats(Words[i + 5]); u.B2 = Floats(Words[i + 6]); u.B3 = Floats(Words[i + 7]);
        return u;
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;

    private static Float4 Floats(UInt4 w) => new(Bits.Float(w.X), Bits.Float(w.Y), Bits.Float(w.Z), Bits.Float(w.W));
}

/// <summary>F16 rows: 4 16-byte words (8 halves each) per unit, columns in order.</summary>
public struct F16Rows : IRowFormat
{
    public ArrayView<UInt4> Words;
    public int WordsPerRow;

    public Unit32 Load(int row, int unit)
    {
        long i = (long)row * WordsPerRow + 4 * unit;
        var u = new Unit32 { ScaleA = 1, ScaleB = 1 };
        var w = Words[i];
        u.A0 = new Float4(Bits.HalfLow(w.X), Bits.HalfHigh(w.X), Bits.HalfLow(w.Y), Bits.HalfHigh(w.Y));
        u.A1 = new Float4(Bits.HalfLow(w.Z), Bits.HalfHigh(w.Z), Bits.HalfLow(w.W), Bits.HalfHigh(w.W));
        w = Words[i + 1];
        u.A2 = new Float4(Bits.HalfLow(w.X), Bits.HalfHigh(w.X), Bits.HalfLow(w.Y), Bits.HalfHigh(w.Y));
        u.A3 = new Float4(Bits.HalfLow(w.Z), Bits.HalfHigh(w.Z), Bits.HalfLow(w.W), Bits.HalfHigh(w.W));
        w = Words[i + 2];
        u.B0 = new Float4(Bits.HalfLow(w.X), Bits.HalfHigh(w.X), Bits.HalfLow(w.Y), Bits.HalfHigh(w.Y));
        u.B1 = new Float4(Bits.HalfLow(w.Z), Bits.HalfHigh(w.Z), Bits.HalfLow(w.W), Bits.HalfHigh(w.W));
        w = Words[i + 3];
        u.B2 = new Float4(Bits.HalfLow(w.X), Bits.HalfHigh(w.X), Bits.HalfLow(w.Y), Bits.HalfHigh(w.Y));
        u.B3 = new Float4(Bits.HalfLow(w.Z), Bits.HalfHigh(w.Z), Bits.HalfLow(w.W), Bits.HalfHigh(w.W));
        return u;
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}

/// <summary>BF16 rows: like F16, each value widened by a 16-bit shift.</summary>
public struct Bf16Rows : IRowFormat
{
    public ArrayView<UInt4> Words;
    public int WordsPerRow;

    public Unit32 Load(int row, int unit)
    {
        long i = (long)row * WordsPerRow + 4 * unit;
        var u = new Unit32 { ScaleA = 1, ScaleB = 1 };
        var w = Words[i];
        u.A0 = new Float4(Bits.Bf16Low(w.X), Bits.Bf16High(w.X), Bits.Bf16Low(w.Y), Bits.Bf16High(w.Y));
        u.A1 = new Float4(Bits.Bf16Low(w.Z), Bits.Bf16High(w.Z), Bits.Bf16Low(w.W), Bits.Bf16High(w.W));
        w = Words[i + 1];
        u.A2 = new Float4(Bits.Bf16Low(w.X), Bits.Bf16High(w.X), Bits.Bf16Low(w.Y), Bits.Bf16High(w.Y));
        u.A3 = new Float4(Bits.Bf16Low(w.Z), Bits.Bf16High(w.Z), Bits.Bf16Low(w.W), Bits.Bf16High(w.W));
        w = Words[i + 2];
        u.B0 = new Float4(Bits.Bf16Low(w.X), Bits.Bf16High(w.X), Bits.Bf16Low(w.Y), Bits.Bf16High(w.Y));
        u.B1 = new Float4(Bits.Bf16Low(w.Z), Bits.Bf16High(w.Z), Bits.Bf16Low(w.W), Bits.Bf16High(w.W));
        w = Words[i + 3];
        u.B2 = new Float4(Bits.Bf16Low(w.X), Bits.Bf16High(w.X), Bits.Bf16Low(w.Y), Bits.Bf16High(w.Y));
        u.B3 = new Float4(Bits.Bf16Low(w.Z), Bits.Bf16High(w.Z), Bits.Bf16Low(w.W), Bits.Bf16High(w.W));
        return u;
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}
