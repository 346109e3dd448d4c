namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>
/// A bitsandbytes 4-bit NF4 weight as the checkpoint stores it, viewed in place (pointers into mapped file bytes).
/// The [<see cref="Rows"/>, <see cref="Cols"/>] weight is flattened row-major and cut into blocks of
/// <see cref="BlockSize"/> elements; element j is <c>CodeBook[code(j)] · absmax(j / BlockSize)</c>, where code(j) is
/// the high nibble of byte j/2 for even j and the low nibble for odd j (bitsandbytes packs the first element high).
/// <para>
/// With double quantization (bitsandbytes' <c>compress_statistics</c>, "nested") the block scales are themselves 8-bit:
/// absmax(b) = <c>NestedCode[AbsmaxCodes[b]] · NestedAbsmax[b / NestedBlockSize] + NestedOffset</c>, evaluated as a
/// float32 multiply then a float32 add (not a fused multiply-add), as bitsandbytes' dequantize_blockwise followed by
/// <c>absmax += offset</c> does. Without it the scales are float32 (<see cref="Absmax"/>).
/// </para>
/// </summary>
public readonly unsafe struct Nf4Tensor
{
    private Nf4Tensor(byte* codes, float* codeBook, int rows, int cols, int blockSize, float* absmax,
        byte* absmaxCodes, float* nestedAbsmax, float* nestedCode, int nestedBlockSize, float nestedOffset)
    {
        if (codes == null || codeBook == null) throw new ArgumentNullException(nameof(codes));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        Codes = codes;
        CodeBook = codeBook;
        Rows = rows;
        Cols = cols;
        BlockSize = blockSize;
        Absmax = absmax;
        AbsmaxCodes = absmaxCodes;
        NestedAbsmax = nestedAbsmax;
        NestedCode = nestedCode;
        NestedBlockSize = nestedBlockSize;
        NestedOffset = nestedOffset;
    }

    /// <summary>Block scales stored as float32, one per block.</summary>
    public static Nf4Tensor Plain(byte* codes, float* codeBook, float* absmax, int rows, int cols, int blockSize)
    {
        if (absmax == null) throw new ArgumentNullException(nameof(absmax));
        return new(codes, codeBook, rows, cols, blockSize, absmax, null, null, null, 0, 0);
    }

    /// <summary>Block scales double-quantized: 8-bit codes, a 256-entry code book, one float scale per nested block, an offset.</summary>
    public static Nf4Tensor Nested(byte* codes, float* codeBook, byte* absmaxCodes, float* nestedAbsmax, float* nestedCode,
        float nestedOffset, int rows, int cols, int blockSize, int nestedBlockSize)
    {
        if (absmaxCodes == null || nestedAbsmax == null || nestedCode == null) throw new ArgumentNullException(nameof(absmaxCodes));
        ArgumentOutOfRangeException.ThrowIfLessThan(nestedBlockSize, 1);
        return new(codes, codeBook, rows, cols, blockSize, null, absmaxCodes, nestedAbsmax, nestedCode, nestedBlockSize, nestedOffset);
    }

    /// <summary>Packed codes, two per byte, first element in the high nibble.</summary>
    public byte* Codes { get; }
    /// <summary>The 16 values a 4-bit code stands for (bitsandbytes' <c>quant_map</c>).</summary>
    public float* CodeBook { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int BlockSize { get; }
    /// <summary>Float32 block scales (null when nested).</summary>
    public float* Absmax { get; }
    /// <summary>8-bit block scale codes (nested only).</summary>
    public byte* AbsmaxCodes { get; }
    public float* NestedAbsmax { get; }
    /// <summary>The 256-entry dynamic code book of the block scales (bitsandbytes' <c>nested_quant_map</c>).</summary>
    public float* NestedCode { get; }
    public int NestedBlockSize { get; }
    public float NestedOffset { get; }
    public bool IsNested => AbsmaxCodes != null;

    public long ElementCount => (long)Rows * Cols;
    public long BlockCount => (ElementCount + BlockSize - 1) / BlockSize;

    /// <summary>The float32 scale of block <paramref name="block"/>, exactly as bitsandbytes computes it.</summary>
    public float BlockScale(long block)
    {
        if (!IsNested) return Absmax[block];
        float scaled = NestedCode[AbsmaxCodes[block]] * NestedAbsmax[block / NestedBlockSize];
        return scaled + NestedOffset;
    }

    /// <summary>The 4-bit code of flattened element <paramref name="index"/>.</summary>
    public int Code(long index)
    {
        byte packed = Codes[index >> 1];
        return (index & 1) == 0 ? packed >> 4 : packed & 0x0F;
    }
}
