namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// A write-only pass-through stream that counts bytes and refuses to exceed a limit. The writer uses it to know
/// its position in non-seekable streams and to hold tensor callbacks to exactly the bytes their tensor needs.
/// </summary>
internal sealed class CountingWriteStream(Stream inner, long limit = long.MaxValue, string? what = null) : Stream
{
    public long Written { get; private set; }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length > limit - Written)
            throw new InvalidOperationException($"{what ?? "the stream"} takes {limit} bytes; a write of {buffer.Length} more after {Written} exceeds it");
        inner.Write(buffer);
        Written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() => inner.Flush();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => Written; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
