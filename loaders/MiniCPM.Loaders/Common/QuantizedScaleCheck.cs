using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders;

/// <summary>
/// Refuses quantized tensors with a NaN or infinite block scale (ggml's <c>ggml_validate_row_data</c> for the block
/// types): such a block turns every product it enters into NaN, far from where the file was damaged. Reads every
/// block's scale, so it touches every page of the quantized tensors.
/// </summary>
public static class QuantizedScaleCheck
{
    /// <summary>Checks every block-quantized tensor of <paramref name="file"/> (tensors in parallel).</summary>
    /// <exception cref="ModelFormatException">A block scale is NaN or infinite; names the tensor, block and offset.</exception>
    public static void RequireFiniteScales(ITensorFile file)
    {
        var quantized = file.Tensors.Where(t => BlockScales.HalfOffsets(t.Type).Length > 0).ToList();
        try
        {
            Parallel.ForEach(quantized, tensor => RequireFiniteScales(file, tensor));
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is ModelFormatException) is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
    }

    /// <summary>Checks one tensor; plain types and Q8_K pass unchecked.</summary>
    public static unsafe void RequireFiniteScales(ITensorFile file, TensorInfo tensor)
    {
        var offsets = BlockScales.HalfOffsets(tensor.Type);
        if (offsets.Length == 0) return;
        var data = file.GetData(tensor);
        int blockBytes = tensor.Type.BlockBytes();
        long blocks = data.Length / blockBytes;
        byte* p = data.Pointer;
        for (long b = 0; b < blocks; b++, p += blockBytes)
        {
            foreach (int offset in offsets)
            {
                ushort bits = (ushort)(p[offset] | (p[offset + 1] << 8));
                if (BlockScales.IsNonFiniteHalf(bits))
                {
                    string which = offset == offsets[0] ? "scale d" : "second scale (dmin/m)";
                    string kind = (bits & 0x03FF) != 0 ? "NaN" : "infinite";
                    throw new ModelFormatException(file.SourcePath,
                        $"block {b} of this {tensor.Type} tensor has a {kind} {which} (f16 0x{bits:X4}); the file is damaged",
                        tensor.Name, tensor.FileOffset + b * blockBytes + offset);
                }
            }
        }
    }
}
