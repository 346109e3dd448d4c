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

    public Unit32 Load(int row, int unit) => SixteenBitUnits.Load<HalfValues>(Words, (long)row * WordsPerRow + 4 * unit);
    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}

/// <summary>BF16 rows: like F16, each value widened by a 16-bit shift.</summary>
public struct Bf16Rows : IRowFormat
{
    public ArrayView<UInt4> Words;
    public int WordsPerRow;

    public Unit32 Load(int row, int unit) => SixteenBitUnits.Load<Bf16Values>(Words, (long)row * WordsPerRow + 4 * unit);
    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}

/// <summary>How the two 16-bit floats of a 32-bit word widen to float (the low half is the earlier column).</summary>
internal interface ISixteenBitValues
{
    float Low(uint word);
    float High(uint word);
}

internal struct HalfValues : ISixteenBitValues
{
    public float Low(uint word) => Bits.HalfLow(word);
    public float High(uint word) => Bits.HalfHigh(word);
}

internal struct Bf16Values : ISixteenBitValues
{
    public float Low(uint word) => Bits.Bf16Low(word);
    public float High(uint word) => Bits.Bf16High(word);
}

/// <summary>One unit of a 16-bit float format: four 16-byte words starting at word <c>i</c>, 8 values each.</summary>
internal static class SixteenBitUnits
{
    public static Unit32 Load<TValues>(ArrayView<UInt4> words, long i) where TValues : struct, ISixteenBitValues
    {
        var u = new Unit32 { ScaleA = 1, ScaleB = 1 };
        var w = words[i];
        u.A0 = First<TValues>(w); u.A1 = Second<TValues>(w);
        w = words[i + 1];
        u.A2 = First<TValues>(w); u.A3 = Second<TValues>(w);
        w = words[i + 2];
        u.B0 = First<TValues>(w); u.B1 = Second<TValues>(w);
        w = words[i + 3];
        u.B2 = First<TValues>(w); u.B3 = Second<TValues>(w);
        return u;
    }

    private static Float4 First<TValues>(UInt4 w) where TValues : struct, ISixteenBitValues =>
        new(default(TValues).Low(w.X), default(TValues).High(w.X), default(TValues).Low(w.Y), default(TValues).High(w.Y));

    private static Float4 Second<TValues>(UInt4 w) where TValues : struct, ISixteenBitValues =>
        new(default(TValues).Low(w.Z), default(TValues).High(w.Z), default(TValues).Low(w.W), default(TValues).High(w.W));
}
