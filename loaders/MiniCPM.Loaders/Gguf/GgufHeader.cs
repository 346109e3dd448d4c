using System.Text;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Gguf;

/// <summary>Everything before the tensor data: version, metadata, alignment and the validated tensor table.</summary>
internal sealed record GgufHeader(
    uint Version,
    IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata,
    long Alignment,
    long DataStart,
    IReadOnlyList<TensorInfo> Tensors);

/// <summary>
/// Reads and validates a GGUF header (checkpoint-formats.md §6; ggml docs/gguf.md). Rules, mostly ggml's own:
/// magic "GGUF"; version 2 or 3; counts no larger than the remaining bytes could hold; unique keys and tensor names;
/// general.alignment a u32 power of two (default 32); tensor names under 64 UTF-8 bytes (ggml's GGML_MAX_NAME
/// includes the terminator); 0–4 dimensions, each a non-negative int64 with a representable product; a supported
/// ggml type whose block size divides ne0; offsets multiples of the alignment; data inside the file and not
/// overlapping. ggml additionally insists that tensors are packed in table order; this reader accepts any
/// non-overlapping aligned placement, which every file ggml accepts also satisfies.
/// </summary>
internal static class GgufHeaderReader
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;
    public const long DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";
    public const int MaxDimensions = 4;
    public const int MaxTensorNameBytes = 63;

    // Smallest encodings: key (u64 length) + value type + a 1-byte value; name length + n_dims + type + offset.
    private const int SmallestKeyValue = 8 + 4 + 1;
    private const int SmallestTensorInfo = 8 + 4 + 4 + 8;

    public static GgufHeader Read(GgufCursor cursor)
    {
        ReadMagic(cursor);
        uint version = ReadVersion(cursor);

        long at = cursor.Position;
        ulong tensorCount = cursor.ReadU64("tensor count");
        CheckCount(cursor, tensorCount, SmallestTensorInfo, "tensor count", at);
        at = cursor.Position;
        ulong keyValueCount = cursor.ReadU64("metadata key/value count");
        CheckCount(cursor, keyValueCount, SmallestKeyValue, "metadata key/value count", at);

        var metadata = ReadMetadata(cursor, (int)keyValueCount, out var keyOffsets);
        long alignment = ReadAlignment(cursor, metadata, keyOffsets);

        // Checked again now that the metadata is behind us: the tensor table must fit in what is left.
        CheckCount(cursor, tensorCount, SmallestTensorInfo, "tensor count", offset: 8);
        var entries = ReadTensorTable(cursor, (int)tensorCount, alignment);

        long dataStart = cursor.AlignedPosition(alignment);
        var tensors = PlaceTensors(cursor, entries, dataStart);
        return new GgufHeader(version, metadata, alignment, dataStart, tensors);
    }

    private static void ReadMagic(GgufCursor cursor)
    {
        var magic = cursor.Take(4, "magic");
        if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(magic) != Magic)
            throw cursor.Error($"not a GGUF file: magic bytes are {Convert.ToHexString(magic)}, expected 47475546 (\"GGUF\")", offset: 0);
    }

    private static uint ReadVersion(GgufCursor cursor)
    {
        uint version = cursor.ReadU32("version");
        if (version == 1)
            throw cursor.Error("GGUF version 1 (32-bit counts) is obsolete and not supported; re-convert the model with a current llama.cpp", offset: 4);
        if (version != 0 && (version & 0xFFFF) == 0)
            throw cursor.Error($"GGUF version 0x{version:x8} looks byte-swapped; big-endian GGUF files are not supported", offset: 4);
        if (version is not (2 or 3))
            throw cursor.Error($"unsupported GGUF version {version}; this reader supports versions 2 and 3", offset: 4);
        return version;
    }

    /// <summary>
    /// Lists grow as entries are actually parsed rather than trusting a count up front: a count that merely fits
    /// the file's size could still ask for gigabytes of list before the first entry proves real.
    /// </summary>
    internal static int InitialCapacity(int count) => Math.Min(count, 4096);

    private static void CheckCount(GgufCursor cursor, ulong count, int smallestEntry, string what, long offset)
    {
        if (count > (ulong)(cursor.Remaining / smallestEntry))
            throw cursor.Error($"{what} {count} is impossible: each entry takes at least {smallestEntry} bytes and only {cursor.Remaining} remain", offset: offset);
    }

    private static List<KeyValuePair<string, GgufValue>> ReadMetadata(GgufCursor cursor, int count, out List<long> keyOffsets)
    {
        var metadata = new List<KeyValuePair<string, GgufValue>>(InitialCapacity(count));
        keyOffsets = new List<long>(InitialCapacity(count));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long at = cursor.Position;
            string key = cursor.ReadString($"metadata key #{i}");
            if (!seen.Add(key))
                throw cursor.Error($"duplicate metadata key '{key}'", offset: at);
            keyOffsets.Add(at);
            metadata.Add(new(key, GgufMetadataReader.ReadValue(cursor, key)));
        }
        return metadata;
    }

    private static long ReadAlignment(GgufCursor cursor, List<KeyValuePair<string, GgufValue>> metadata, List<long> keyOffsets)
    {
        int index = metadata.FindIndex(kv => kv.Key == AlignmentKey);
        if (index < 0) return DefaultAlignment;
        var value = metadata[index].Value;
        long at = keyOffsets[index];
        if (value.Type != GgufValueType.UInt32)
            throw cursor.Error($"metadata key '{AlignmentKey}' must be a u32, found {value}", offset: at);
        uint alignment = (uint)value.ScalarBits;
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw cursor.Error($"metadata key '{AlignmentKey}' is {alignment}, not a power of two", offset: at);
        return alignment;
    }

    /// <summary>One row of the tensor table before placement: offset relative to the data section.</summary>
    private readonly record struct TableEntry(string Name, TensorType Type, long[] Shape, long RelativeOffset, long ByteLength, long HeaderOffset);

    private static List<TableEntry> ReadTensorTable(GgufCursor cursor, int count, long alignment)
    {
        var entries = new List<TableEntry>(InitialCapacity(count));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long at = cursor.Position;
            string name = cursor.ReadString($"tensor #{i} name");
            int nameBytes = Encoding.UTF8.GetByteCount(name);
            if (nameBytes > MaxTensorNameBytes)
                throw cursor.Error($"tensor name is {nameBytes} bytes; ggml allows at most {MaxTensorNameBytes}", name, at);
            if (!names.Add(name))
                throw cursor.Error("duplicate tensor name", name, at);

            long[] ne = ReadDimensions(cursor, name);

            long typeAt = cursor.Position;
            uint typeId = cursor.ReadU32("ggml type", name);
            var type = GgmlTypeIds.ToTensorType(typeId)
                ?? throw cursor.Error($"unsupported ggml type id {typeId} ({GgmlTypeIds.Name(typeId)})", name, typeAt);

            long rowElements = ne.Length == 0 ? 1 : ne[0];
            if (rowElements % type.BlockElements() != 0)
                throw cursor.Error($"row length ne0 = {rowElements} is not a multiple of the {type} block size {type.BlockElements()}", name, at);
            var shape = ne.Reverse().ToArray(); // outermost first
            long byteLength = type.TensorBytes(shape) is { } size and >= 0 ? size
                : throw cursor.Error($"byte size of shape [{string.Join(", ", shape)}] of {type} overflows 64 bits", name, at);

            long offsetAt = cursor.Position;
            ulong offset = cursor.ReadU64("data offset", name);
            if (offset > long.MaxValue)
                throw cursor.Error($"data offset {offset} is beyond any file", name, offsetAt);
            if ((long)offset % alignment != 0)
                throw cursor.Error($"data offset {offset} is not a multiple of the alignment {alignment}", name, offsetAt);

            entries.Add(new TableEntry(name, type, shape, (long)offset, byteLength, at));
        }
        return entries;
    }

    /// <summary>n_dims and ne (innermost first), each a non-negative int64 whose product is representable.</summary>
    private static long[] ReadDimensions(GgufCursor cursor, string name)
    {
        long at = cursor.Position;
        uint dimensionCount = cursor.ReadU32("number of dimensions", name);
        if (dimensionCount > MaxDimensions)
            throw cursor.Error($"{dimensionCount} dimensions; GGUF tensors have at most {MaxDimensions}", name, at);

        var ne = new long[dimensionCount];
        long elements = 1;
        bool empty = false;
        for (int j = 0; j < ne.Length; j++)
        {
            long dimAt = cursor.Position;
            ulong d = cursor.ReadU64($"dimension {j}", name);
            if (d > long.MaxValue)
                throw cursor.Error($"dimension ne{j} = {(long)d} is negative", name, dimAt);
            ne[j] = (long)d;
            empty |= d == 0;
            if (!empty && elements > long.MaxValue / ne[j])
                throw cursor.Error($"element count of ne [{string.Join(", ", ne[..(j + 1)])}] overflows 64 bits", name, at);
            elements = empty ? 0 : elements * ne[j];
        }
        return ne;
    }

    /// <summary>Turns relative offsets into absolute ones, checking every range lies in the file and none overlap.</summary>
    private static List<TensorInfo> PlaceTensors(GgufCursor cursor, List<TableEntry> entries, long dataStart)
    {
        long fileLength = cursor.Length;
        if (entries.Count > 0 && dataStart > fileLength)
            throw cursor.Error($"the file is truncated: tensor data would start at {dataStart}, past its end ({fileLength} bytes)", offset: dataStart);

        var tensors = new List<TensorInfo>(entries.Count);
        foreach (var e in entries)
        {
            long room = fileLength - dataStart;
            if (e.RelativeOffset > room || e.ByteLength > room - e.RelativeOffset)
                throw cursor.Error($"data [{e.RelativeOffset}, +{e.ByteLength}) relative to the data section at {dataStart} extends past the end of the file ({fileLength} bytes)", e.Name, e.HeaderOffset);
            tensors.Add(new TensorInfo(e.Name, e.Type, e.Shape, dataStart + e.RelativeOffset, e.ByteLength));
        }

        // Overlap: sort the non-empty ranges by start; each must begin at or after the end of the one before.
        var ranges = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.FileOffset).ToList();
        for (int i = 1; i < ranges.Count; i++)
        {
            var previous = ranges[i - 1];
            if (ranges[i].FileOffset < previous.FileOffset + previous.ByteLength)
                throw cursor.Error($"data overlaps tensor '{previous.Name}' ([{previous.FileOffset}, +{previous.ByteLength}))", ranges[i].Name, ranges[i].FileOffset);
        }
        return tensors;
    }
}
