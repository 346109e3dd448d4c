using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// Writes GGUF version 3: metadata of any type (nested arrays included), then the tensor table, then each
/// tensor's data at offsets aligned to general.alignment (default 32), zero-padded. Tensor data are only produced
/// while writing (from memory, a float source quantized chunk by chunk, or a callback), so a large model never
/// has to be in memory at once. Note that ggml itself cannot read arrays of arrays, although the spec allows them.
/// </summary>
public sealed class GgufWriter
{
    public const uint FormatVersion = 3;

    // Elements converted per step when encoding floats: a multiple of every block size (32, 256).
    private const int FloatChunkElements = 64 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    private sealed record PendingTensor(string Name, TensorType Type, long[] Shape, long ByteLength, Action<Stream> WriteData);

    /// <summary>general.alignment if it was added, otherwise 32.</summary>
    public long Alignment { get; private set; } = GgufHeaderReader.DefaultAlignment;

    /// <summary>Adds a key/value pair; keys are written in the order added and must be unique.</summary>
    public GgufWriter AddMetadata(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        RequireEncodable(key, nameof(key));
        if (key == GgufHeaderReader.AlignmentKey)
        {
            // Same rule as ggml's gguf_set_val_u32 for this key: a u32 power of two.
            if (value.Type != GgufValueType.UInt32 || value.ScalarBits == 0 || (value.ScalarBits & (value.ScalarBits - 1)) != 0)
                throw new ArgumentException($"{key} must be a u32 power of two, not {value}", nameof(value));
            Alignment = (long)value.ScalarBits;
        }
        if (!_keys.Add(key)) throw new ArgumentException($"metadata key '{key}' was already added", nameof(key));
        _metadata.Add(new(key, value));
        return this;
    }

    /// <summary>Adds a tensor whose encoded bytes are in memory (kept by reference until written).</summary>
    public GgufWriter AddTensor(string name, TensorType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        long byteLength = CheckTensor(name, type, shape);
        if (data.Length != byteLength)
            throw new ArgumentException($"tensor '{name}' of {type} {Show(shape)} takes {byteLength} bytes, not {data.Length}", nameof(data));
        _tensors.Add(new PendingTensor(name, type, shape.ToArray(), byteLength, s => s.Write(data.Span)));
        return this;
    }

    /// <summary>
    /// Adds a tensor whose bytes <paramref name="writeData"/> writes when the file is written: exactly the tensor's
    /// byte size (checked), e.g. copied from another file. Called once per <see cref="WriteTo(Stream)"/>.
    /// </summary>
    public GgufWriter AddTensor(string name, TensorType type, long[] shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        long byteLength = CheckTensor(name, type, shape);
        _tensors.Add(new PendingTensor(name, type, shape.ToArray(), byteLength, writeData));
        return this;
    }

    /// <summary>
    /// Adds a tensor given as float32 values (row-major, outermost first), encoded to <paramref name="type"/> while
    /// writing: F32 as is, F16 with round-to-nearest-even, any other type by <see cref="BlockQuantizer.Quantize"/>.
    /// </summary>
    public GgufWriter AddTensorFromFloats(string name, TensorType type, long[] shape, ReadOnlyMemory<float> values)
    {
        long byteLength = CheckTensor(name, type, shape);
        long elements = 1;
        foreach (var d in shape) elements *= d;
        if (values.Length != elements)
            throw new ArgumentException($"tensor '{name}' {Show(shape)} has {elements} elements, not {values.Length}", nameof(values));
        if (type is not (TensorType.F32 or TensorType.F16) && !BlockQuantizer.CanQuantize(type))
            throw new NotSupportedException($"encoding float32 values as {type} is not available");
        _tensors.Add(new PendingTensor(name, type, shape.ToArray(), byteLength, s => WriteFloats(s, type, values)));
        return this;
    }

    /// <summary>Writes the file; a partly written file is deleted if anything fails.</summary>
    public void WriteTo(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
            WriteTo(file);
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Writes the whole file to <paramref name="destination"/> (need not be seekable).</summary>
    public void WriteTo(Stream destination)
    {
        var output = new CountingWriteStream(destination);

        WriteU32(output, GgufHeaderReader.Magic);
        WriteU32(output, FormatVersion);
        WriteU64(output, (ulong)_tensors.Count);
        WriteU64(output, (ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(output, key);
            WriteU32(output, (uint)value.Type);
            WritePayload(output, value);
        }

        var relativeOffsets = new long[_tensors.Count];
        long next = 0;
        for (int i = 0; i < _tensors.Count; i++)
        {
            relativeOffsets[i] = next;
            next = checked(next + AlignUp(_tensors[i].ByteLength));
        }
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            WriteString(output, t.Name);
            WriteU32(output, (uint)t.Shape.Length);
            for (int d = t.Shape.Length - 1; d >= 0; d--) WriteU64(output, (ulong)t.Shape[d]); // ne: innermost first
            WriteU32(output, GgmlTypeIds.ToGgmlId(t.Type)!.Value);
            WriteU64(output, (ulong)relativeOffsets[i]);
        }
        PadTo(output, AlignUp(output.Written));

        long dataStart = output.Written;
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            PadTo(output, dataStart + relativeOffsets[i]);
            var data = new CountingWriteStream(output, t.ByteLength, $"tensor '{t.Name}'");
            t.WriteData(data);
            if (data.Written != t.ByteLength)
                throw new InvalidOperationException($"tensor '{t.Name}' takes {t.ByteLength} bytes but {data.Written} were written");
            PadTo(output, AlignUp(output.Written));
        }
        output.Flush();
    }

    private long CheckTensor(string name, TensorType type, long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        RequireEncodable(name, nameof(name));
        if (Encoding.UTF8.GetByteCount(name) > GgufHeaderReader.MaxTensorNameBytes)
            throw new ArgumentException($"tensor name '{name}' is longer than {GgufHeaderReader.MaxTensorNameBytes} UTF-8 bytes", nameof(name));
        if (GgmlTypeIds.ToGgmlId(type) is null)
            throw new ArgumentException($"GGUF has no ggml type for {type}", nameof(type));
        if (shape.Length > GgufHeaderReader.MaxDimensions || shape.Any(d => d < 0))
            throw new ArgumentException($"tensor '{name}': shape {Show(shape)} needs 0–{GgufHeaderReader.MaxDimensions} non-negative dimensions", nameof(shape));
        long byteLength = type.TensorBytes(shape)
            ?? throw new ArgumentException($"tensor '{name}': shape {Show(shape)} is not whole {type} blocks per row, or too large", nameof(shape));
        if (!_tensorNames.Add(name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        return byteLength;
    }

    private static void WriteFloats(Stream output, TensorType type, ReadOnlyMemory<float> values)
    {
        var buffer = new byte[type.RowBytes(Math.Min(FloatChunkElements, values.Length))!.Value];
        for (int start = 0; start < values.Length; start += FloatChunkElements)
        {
            var part = values.Span.Slice(start, Math.Min(FloatChunkElements, values.Length - start));
            var bytes = buffer.AsSpan(0, (int)type.RowBytes(part.Length)!.Value);
            switch (type)
            {
                case TensorType.F32:
                    MemoryMarshal.AsBytes(part).CopyTo(bytes);
                    break;
                case TensorType.F16:
                    for (int i = 0; i < part.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes[(2 * i)..], (Half)part[i]);
                    break;
                default:
                    BlockQuantizer.Quantize(type, part, bytes);
                    break;
            }
            output.Write(bytes);
        }
    }

    private static void WritePayload(Stream output, GgufValue value)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                WriteString(output, value.AsString());
                break;
            case GgufValueType.Array:
                WriteArrayBody(output, value);
                break;
            default:
                Span<byte> bits = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bits, value.ScalarBits);
                output.Write(bits[..value.Type.FixedSize()!.Value]);
                break;
        }
    }

    // Element type, count, elements; an element of an array of arrays is again type, count, elements.
    private static void WriteArrayBody(Stream output, GgufValue array)
    {
        var elementType = array.ElementType!.Value;
        WriteU32(output, (uint)elementType);
        WriteU64(output, (ulong)array.ArrayLength);
        switch (elementType)
        {
            case GgufValueType.String:
                foreach (var s in array.AsSpan<string>()) WriteString(output, s);
                break;
            case GgufValueType.Array:
                foreach (var inner in array.AsSpan<GgufValue>()) WriteArrayBody(output, inner);
                break;
            case GgufValueType.Bool:
                foreach (var b in array.AsSpan<bool>()) output.WriteByte(b ? (byte)1 : (byte)0);
                break;
            default:
                output.Write(array.FixedArrayBytes()); // little-endian host, as checked by the reader
                break;
        }
    }

    private static void WriteString(Stream output, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        WriteU64(output, (ulong)bytes.Length);
        output.Write(bytes);
    }

    private static void WriteU32(Stream output, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        output.Write(bytes);
    }

    private static void WriteU64(Stream output, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        output.Write(bytes);
    }

    private static void PadTo(CountingWriteStream output, long position)
    {
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (output.Written < position)
            output.Write(zeros[..(int)Math.Min(zeros.Length, position - output.Written)]);
    }

    private long AlignUp(long position) => (position + Alignment - 1) & ~(Alignment - 1);

    private static void RequireEncodable(string s, string parameter)
    {
        try { StrictUtf8.GetByteCount(s); }
        catch (EncoderFallbackException e) { throw new ArgumentException("the text is not valid Unicode (lone surrogate)", parameter, e); }
    }

    private static string Show(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
