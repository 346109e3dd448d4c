namespace MiniCPM.Loaders;

/// <summary>
/// A read-only byte range in native memory (a memory-mapped tensor). Lengths are 64-bit because real embedding
/// tables exceed 2 GiB in F32; take spans of rows or other sub-ranges below that size.
/// </summary>
public readonly unsafe struct NativeBytes
{
    public byte* Pointer { get; }
    public long Length { get; }

    public NativeBytes(byte* pointer, long length)
    {
        Pointer = pointer;
        Length = length;
    }

    public NativeBytes Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset}+{length}) outside {Length} bytes");
        return new NativeBytes(Pointer + offset, length);
    }

    /// <summary>The whole range as a span; only for ranges under 2 GiB.</summary>
    public ReadOnlySpan<byte> AsSpan()
    {
        if (Length > int.MaxValue)
            throw new InvalidOperationException($"a range of {Length} bytes does not fit one span; take a slice");
        return new ReadOnlySpan<byte>(Pointer, (int)Length);
    }
}
