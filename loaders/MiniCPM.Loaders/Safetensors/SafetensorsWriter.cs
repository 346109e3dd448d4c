using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// Collects tensors and writes a safetensors file. Tensors are laid out contiguously in insertion order (not sorted by
/// dtype size and name as Hugging Face's writer does): tools control the order, and a reader must accept any order.
/// Data are streamed to disk one tensor at a time, so a callback source lets a large model be written without holding
/// it in memory. The header is padded with spaces so the data buffer starts at a multiple of 8 bytes.
/// </summary>
public sealed class SafetensorsWriter
{
    /// <summary>One tensor to write: its header fields and a source that writes exactly <see cref="ByteLength"/> bytes.</summary>
    internal sealed record Entry(string Name, TensorType Type, long[] Shape, long ByteLength, Action<Stream> WriteData);

    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);
    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> Metadata => _metadata;
    internal IReadOnlyList<Entry> Entries => _entries;

    /// <summary>Adds a <c>__metadata__</c> string pair (Hugging Face writes <c>format</c> = <c>pt</c>).</summary>
    public void AddMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!_metadata.TryAdd(key, value)) throw new ArgumentException($"metadata key '{key}' was already added", nameof(key));
    }

    /// <summary>Adds a tensor whose bytes are in memory (little-endian, row-major); the memory is read at write time.</summary>
    public void AddTensor(string name, TensorType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        long bytes = CheckTensor(name, type, shape);
        if (data.Length != bytes)
            throw new ArgumentException($"tensor '{name}': {type} [{string.Join(", ", shape)}] needs {bytes} bytes, got {data.Length}", nameof(data));
        _entries.Add(new Entry(name, type, (long[])shape.Clone(), bytes, stream => stream.Write(data.Span)));
        _names.Add(name);
    }

    /// <summary>
    /// Adds a tensor whose bytes are produced at write time by <paramref name="writeData"/>, which must write exactly
    /// the tensor's byte size to the stream it is given (checked).
    /// </summary>
    public void AddTensor(string name, TensorType type, long[] shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        long bytes = CheckTensor(name, type, shape);
        _entries.Add(new Entry(name, type, (long[])shape.Clone(), bytes, writeData));
        _names.Add(name);
    }

    /// <summary>Writes the file (through a temporary file in the same folder, moved into place when complete).</summary>
    public void Write(string path) => WriteFile(path, _metadata, _entries);

    internal static void WriteFile(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<Entry> entries)
    {
        byte[] header = BuildHeader(metadata, entries);
        string partial = path + ".partial";
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var entry in entries)
                {
                    long before = stream.Position;
                    entry.WriteData(stream);
                    long written = stream.Position - before;
                    if (written != entry.ByteLength)
                        throw new InvalidOperationException($"tensor '{entry.Name}': the data source wrote {written} bytes, expected {entry.ByteLength}");
                }
            }
            File.Move(partial, path, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes so the data start (8 + N) is 8-aligned.</summary>
    internal static byte[] BuildHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<Entry> entries)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps names such as "a+b" literal; the output is still plain valid JSON.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in entries)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", SafetensorsDtype.TryGetName(entry.Type));
                json.WriteStartArray("shape");
                foreach (long d in entry.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + entry.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += entry.ByteLength;
            }
            json.WriteEndObject();
        }
        int padding = (8 - buffer.WrittenCount % 8) % 8;
        buffer.GetSpan(padding)[..padding].Fill((byte)' ');
        buffer.Advance(padding);
        return buffer.WrittenSpan.ToArray();
    }

    private long CheckTensor(string name, TensorType type, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name.Length == 0) throw new ArgumentException("tensor name is empty", nameof(name));
        if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved for the metadata map", nameof(name));
        if (_names.Contains(name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        if (SafetensorsDtype.TryGetName(type) is null)
            throw new ArgumentException($"tensor '{name}': {type} has no safetensors dtype", nameof(type));
        if (shape.Length > SafetensorsHeader.MaxRank)
            throw new ArgumentException($"tensor '{name}': more than {SafetensorsHeader.MaxRank} dimensions", nameof(shape));
        if (shape.Any(d => d < 0)) throw new ArgumentException($"tensor '{name}': negative dimension", nameof(shape));
        return type.TensorBytes(shape) ?? throw new ArgumentException($"tensor '{name}': byte size overflows", nameof(shape));
    }
}
