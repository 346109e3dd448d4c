using System.Buffers.Binary;
using System.Text;

namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// A forward-only reader over the bytes of a GGUF file. Every read is checked against the bytes that remain, so a
/// truncated or hostile header ends in a <see cref="ModelFormatException"/> naming what was being read and where.
/// </summary>
internal sealed unsafe class GgufCursor
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte* _start;

    public GgufCursor(NativeBytes bytes, string path)
    {
        _start = bytes.Pointer;
        Length = bytes.Length;
        Path = path;
    }

    public string Path { get; }
    public long Length { get; }
    public long Position { get; private set; }
    public long Remaining => Length - Position;

    /// <summary>A format error at <paramref name="offset"/> (default: the current position).</summary>
    public ModelFormatException Error(string problem, string? tensor = null, long? offset = null) =>
        new(Path, problem, tensor, offset ?? Position);

    /// <summary>The next <paramref name="count"/> bytes; <paramref name="what"/> names them in the error if they are missing.</summary>
    public ReadOnlySpan<byte> Take(long count, string what, string? tensor = null)
    {
        if (count < 0 || count > Remaining)
            throw Error($"the file is truncated: {what} needs {count} bytes but only {Remaining} remain", tensor);
        if (count > int.MaxValue)
            throw Error($"{what} is {count} bytes; single header fields over 2 GiB are not supported", tensor);
        var span = new ReadOnlySpan<byte>(_start + Position, (int)count);
        Position += count;
        return span;
    }

    public byte ReadU8(string what, string? tensor = null) => Take(1, what, tensor)[0];

    public uint ReadU32(string what, string? tensor = null) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what, tensor));

    public ulong ReadU64(string what, string? tensor = null) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what, tensor));

    /// <summary>A gguf_string: u64 length + UTF-8 bytes. The length is checked against the file before anything is allocated.</summary>
    public string ReadString(string what, string? tensor = null)
    {
        long at = Position;
        ulong length = ReadU64($"{what} (string length)", tensor);
        if (length > (ulong)Remaining)
            throw Error($"{what}: string length {length} exceeds the {Remaining} bytes left in the file", tensor, at);
        var bytes = Take((long)length, what, tensor);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error($"{what}: the string is not valid UTF-8", tensor, at);
        }
    }

    /// <summary>Skips zero padding up to the next multiple of <paramref name="alignment"/> (a power of two); may pass the end.</summary>
    public long AlignedPosition(long alignment) => (Position + alignment - 1) & ~(alignment - 1);
}
