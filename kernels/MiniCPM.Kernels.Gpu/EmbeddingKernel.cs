using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="EmbeddingKernel"/>.</summary>
public struct EmbeddingArgs<TFormat> where TFormat : struct, IRowFormat
{
    public TFormat Table;
    public ArrayView<int> Ids;
    /// <summary>[ids, Cols] floats.</summary>
    public ArrayView<float> Output;
    public int Cols;
}

/// <summary>Gathers table rows by id, dequantizing any row format: one thread per (id, 32-column unit).</summary>
public static class EmbeddingKernel
{
    public static void Kernel<TFormat>(Index1D index, EmbeddingArgs<TFormat> a) where TFormat : struct, IRowFormat
    {
        int units = a.Cols / 32;
        int token = index / units, unit = index % units;
        var w = a.Table.Load(a.Ids[token], unit);
        var output = a.Output.Cast<Float4>();
        long rowStart = (long)token * a.Cols;
        long pa = (rowStart + a.Table.PieceA(unit)) / 4, pb = (rowStart + a.Table.PieceB(unit)) / 4;
        output[pa] = Affine(w.A0, w.ScaleA, w.OffsetA);
        output[pa + 1] = Affine(w.A1, w.ScaleA, w.OffsetA);
        output[pa + 2] = Affine(w.A2, w.ScaleA, w.OffsetA);
        output[pa + 3] = Affine(w.A3, w.ScaleA, w.OffsetA);
        output[pb] = Affine(w.B0, w.ScaleB, w.OffsetB);
        output[pb + 1] = Affine(w.B1, w.ScaleB, w.OffsetB);
        output[pb + 2] = Affine(w.B2, w.ScaleB, w.OffsetB);
        output[pb + 3] = Affine(w.B3, w.ScaleB, w.OffsetB);
    }

    private static Float4 Affine(Float4 v, float scale, float offset) =>
        new(scale * v.X + offset, scale * v.Y + offset, scale * v.Z + offset, scale * v.W + offset);
}
