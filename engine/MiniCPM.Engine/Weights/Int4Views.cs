using MiniCPM.Kernels.Formats.Int4;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// The kernel views of a quantized linear: pointers into the opened file's tensors (zero copy, valid while the file
/// is open), checked by <see cref="QuantizedFamilies"/> when the checkpoint was mapped.
/// </summary>
public static unsafe class Int4Views
{
    public static Nf4Tensor Nf4(ITensorFile file, Nf4Linear w)
    {
        byte* codes = file.GetData(w.Codes).Pointer;
        float* book = (float*)file.GetData(w.QuantMap).Pointer;
        return w.Nested
            ? Nf4Tensor.Nested(codes, book, file.GetData(w.Absmax).Pointer, (float*)file.GetData(w.NestedAbsmax!).Pointer,
                (float*)file.GetData(w.NestedQuantMap!).Pointer, w.NestedOffset, w.Rows, w.Cols, w.BlockSize, w.NestedBlockSize)
            : Nf4Tensor.Plain(codes, book, (float*)file.GetData(w.Absmax).Pointer, w.Rows, w.Cols, w.BlockSize);
    }

    public static GptqTensor Gptq(ITensorFile file, GptqLinear w) => new(
        (int*)file.GetData(w.QWeight).Pointer, (int*)file.GetData(w.QZeros).Pointer, (ushort*)file.GetData(w.Scales).Pointer,
        (int*)file.GetData(w.GroupIndex).Pointer, w.Rows, w.Cols, w.Groups, w.ZeroOffset);

    /// <summary>Rows of any quantized linear as float32, by the reference dequantizers.</summary>
    public static void DequantizeRows(ITensorFile file, QuantizedLinear weight, int firstRow, int rowCount, Span<float> destination)
    {
        switch (weight)
        {
            case Nf4Linear nf4: Int4Dequantizer.Nf4Rows(Nf4(file, nf4), firstRow, rowCount, destination); break;
            case GptqLinear gptq: Int4Dequantizer.GptqRows(Gptq(file, gptq), firstRow, rowCount, destination); break;
            default: throw new NotSupportedException($"no dequantizer for {weight.GetType().Name}");
        }
    }
}
