using System.Buffers.Binary;
using System.Text;

namespace MiniCPM.Loaders.Tests.Gguf.Builders;

/// <summary>
/// Lays out GGUF bytes by hand, field by field, straight from the spec (checkpoint-formats.md §6), so reader tests
/// do not depend on <c>GgufWriter</c>. Every method appends little-endian bytes and returns the builder.
/// </summary>
internal sealed class GgufBytes
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public byte[] ToArray() => [.. _bytes];

    /// <summary>Magic "GGUF", version, tensor count, metadata count.</summary>
    public static GgufBytes Header(uint version, ulong tensorCount, ulong keyValueCount) =>
        new GgufBytes().Raw("GGUF"u8.ToArray()).U32(version).U64(tensorCount).U64(keyValueCount);

    public GgufBytes Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public GgufBytes U8(byte value) => Raw(value);

    public GgufBytes U32(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Raw(b);
    }

    public GgufBytes U64(ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return Raw(b);
    }

    public GgufBytes F32(float value) => U32(BitConverter.SingleToUInt32Bits(value));

    /// <summary>gguf_string: u64 byte count + UTF-8 bytes.</summary>
    public GgufBytes Str(string s) => RawStr(Encoding.UTF8.GetBytes(s));

    /// <summary>gguf_string with arbitrary (possibly invalid UTF-8) bytes.</summary>
    public GgufBytes RawStr(byte[] bytes) => U64((ulong)bytes.Length).Raw(bytes);

    /// <summary>A key/value pair whose value is a u32 (type id 4).</summary>
    public GgufBytes KvU32(string key, uint value) => Str(key).U32(4).U32(value);

    /// <summary>A key/value pair whose value is a string (type id 8).</summary>
    public GgufBytes KvString(string key, string value) => Str(key).U32(8).Str(value);

    /// <summary>A tensor info: name, n_dims, ne (innermost first), ggml type id, offset in the data section.</summary>
    public GgufBytes TensorInfo(string name, ulong[] ne, uint ggmlType, ulong offset)
    {
        Str(name).U32((uint)ne.Length);
        foreach (var d in ne) U64(d);
        return U32(ggmlType).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public GgufBytes PadTo(int alignment)
    {
        while (_bytes.Count % alignment != 0) _bytes.Add(0);
        return this;
    }
}
