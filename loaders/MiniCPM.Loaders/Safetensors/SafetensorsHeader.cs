using System.Buffers.Binary;
using System.Text.Json;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// The parsed and fully validated header of one safetensors file (spec: checkpoint-formats.md §1):
/// <c>u64 N</c>, <c>N</c> bytes of JSON, then the data buffer that the tensors' byte ranges tile exactly.
/// </summary>
/// <remarks>
/// Validation follows Hugging Face's Rust library: the ranges, sorted by offset, must start at 0, touch each other with
/// no hole or overlap, and end exactly at the end of the file (no trailing bytes). Unknown keys inside a tensor entry
/// are ignored, as serde does there. Stricter than the Rust library: the JSON must start with '{', duplicate names or
/// fields are errors (serde would silently keep one), and a shape has at most <see cref="MaxRank"/> dimensions.
/// </remarks>
internal sealed class SafetensorsHeader
{
    /// <summary>Largest accepted JSON header (the Rust library's limit).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Most dimensions a shape may have; bounds the work a hostile header can ask for.</summary>
    public const int MaxRank = 64;

    // Nesting needed: root object > tensor entry > shape array. The slack lets ignored unknown values nest a little;
    // anything deeper is a JSON bomb and fails inside the reader instead of recursing.
    private const int MaxJsonDepth = 8;

    private const string MetadataKey = "__metadata__";

    public required long HeaderLength { get; init; }
    public required long DataStart { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>Tensors sorted by data offset (file order), with absolute file offsets.</summary>
    public required IReadOnlyList<TensorInfo> Tensors { get; init; }

    /// <summary>Reads and validates the header of a whole file held in <paramref name="file"/>.</summary>
    public static SafetensorsHeader Parse(string path, NativeBytes file)
    {
        if (file.Length < 8)
            throw new ModelFormatException(path, $"file is {file.Length} bytes, too short for the 8-byte header length", offset: 0);

        // Check N against both limits before touching the header bytes.
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file.Slice(0, 8).AsSpan());
        if (n > MaxHeaderLength)
            throw new ModelFormatException(path, $"header length {n} exceeds the {MaxHeaderLength}-byte limit", offset: 0);
        if ((long)n > file.Length - 8)
            throw new ModelFormatException(path, $"header length {n} runs past the end of the {file.Length}-byte file", offset: 0);

        long headerLength = (long)n;
        long dataStart = 8 + headerLength;
        var parser = new EntryParser(path, dataStart, file.Length - dataStart);
        parser.ParseJson(file.Slice(8, headerLength).AsSpan());

        return new SafetensorsHeader
        {
            HeaderLength = headerLength,
            DataStart = dataStart,
            Metadata = parser.Metadata,
            Tensors = parser.CheckTiling(),
        };
    }

    /// <summary>Reads the JSON object entry by entry with a depth-bounded streaming reader (no document tree).</summary>
    private sealed class EntryParser(string path, long dataStart, long dataLength)
    {
        private readonly Dictionary<string, TensorInfo> _byName = new(StringComparer.Ordinal);
        private readonly List<(TensorInfo Tensor, long Begin, long End)> _ranges = [];
        private Dictionary<string, string>? _metadata;

        public IReadOnlyDictionary<string, string> Metadata => _metadata ?? new Dictionary<string, string>();

        public void ParseJson(ReadOnlySpan<byte> json)
        {
            if (json.Length == 0 || json[0] != (byte)'{')
                throw Fail("the JSON header must start with '{'", offset: 8);

            var reader = new Utf8JsonReader(json, new JsonReaderOptions
            {
                MaxDepth = MaxJsonDepth,
                CommentHandling = JsonCommentHandling.Disallow,
                AllowTrailingCommas = false,
            });
            try
            {
                reader.Read(); // the '{' checked above
                while (true)
                {
                    Next(ref reader);
                    if (reader.TokenType == JsonTokenType.EndObject) break;
                    long nameOffset = 8 + reader.TokenStartIndex;
                    string name = reader.GetString()!;
                    Next(ref reader);
                    if (name == MetadataKey) ReadMetadata(ref reader, nameOffset);
                    else ReadTensor(ref reader, name, nameOffset);
                }
                // Only the spaces writers pad with (any JSON whitespace) may follow; the reader rejects anything else.
                if (reader.Read())
                    throw Fail("unexpected content after the JSON object", offset: 8 + reader.TokenStartIndex);
            }
            catch (JsonException e)
            {
                throw Fail($"header is not valid JSON: {e.Message}", offset: 8 + reader.BytesConsumed, inner: e);
            }
            catch (InvalidOperationException e)
            {
                // String values that are not valid UTF-8 or contain lone surrogates surface here.
                throw Fail($"header has an unreadable string: {e.Message}", offset: 8 + reader.BytesConsumed, inner: e);
            }
        }

        private static void Next(ref Utf8JsonReader reader)
        {
            if (!reader.Read()) throw new JsonException("unexpected end of the header");
        }

        private void ReadMetadata(ref Utf8JsonReader reader, long offset)
        {
            if (_metadata is not null) throw Fail($"duplicate '{MetadataKey}' entry", offset: offset);
            _metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (reader.TokenType == JsonTokenType.Null) return; // serde reads null as "no metadata"
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Fail($"'{MetadataKey}' must be an object of strings", offset: offset);
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject) return;
                long keyOffset = 8 + reader.TokenStartIndex;
                string key = reader.GetString()!;
                Next(ref reader);
                if (reader.TokenType != JsonTokenType.String)
                    throw Fail($"'{MetadataKey}' value of '{key}' must be a string, found {reader.TokenType}", offset: keyOffset);
                if (!_metadata.TryAdd(key, reader.GetString()!))
                    throw Fail($"duplicate '{MetadataKey}' key '{key}'", offset: keyOffset);
            }
        }

        private void ReadTensor(ref Utf8JsonReader reader, string name, long entryOffset)
        {
            if (_byName.ContainsKey(name)) throw Fail("duplicate tensor name", name, entryOffset);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Fail($"tensor entry must be an object, found {reader.TokenType}", name, entryOffset);

            string? dtype = null;
            long[]? shape = null;
            long[]? offsets = null;
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                long fieldOffset = 8 + reader.TokenStartIndex;
                string field = reader.GetString()!;
                Next(ref reader);
                switch (field)
                {
                    case "dtype":
                        if (dtype is not null) throw Fail("duplicate 'dtype'", name, fieldOffset);
                        if (reader.TokenType != JsonTokenType.String) throw Fail("'dtype' must be a string", name, fieldOffset);
                        dtype = reader.GetString()!;
                        break;
                    case "shape":
                        if (shape is not null) throw Fail("duplicate 'shape'", name, fieldOffset);
                        shape = ReadIntegers(ref reader, name, "shape", MaxRank, fieldOffset);
                        break;
                    case "data_offsets":
                        if (offsets is not null) throw Fail("duplicate 'data_offsets'", name, fieldOffset);
                        offsets = ReadIntegers(ref reader, name, "data_offsets", 2, fieldOffset);
                        if (offsets.Length != 2)
                            throw Fail($"'data_offsets' must be [begin, end], found {offsets.Length} numbers", name, fieldOffset);
                        break;
                    default:
                        reader.Skip(); // unknown fields are ignored, as in the reference library
                        break;
                }
            }

            if (dtype is null) throw Fail("entry has no 'dtype'", name, entryOffset);
            if (shape is null) throw Fail("entry has no 'shape'", name, entryOffset);
            if (offsets is null) throw Fail("entry has no 'data_offsets'", name, entryOffset);
            AddTensor(name, dtype, shape, offsets[0], offsets[1], entryOffset);
        }

        /// <summary>An array of at most <paramref name="maxCount"/> non-negative 64-bit integers.</summary>
        private long[] ReadIntegers(ref Utf8JsonReader reader, string tensor, string field, int maxCount, long offset)
        {
            if (reader.TokenType != JsonTokenType.StartArray) throw Fail($"'{field}' must be an array", tensor, offset);
            var values = new List<long>();
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndArray) return values.ToArray();
                if (values.Count == maxCount)
                    throw Fail($"'{field}' has more than {maxCount} entries", tensor, 8 + reader.TokenStartIndex);
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
                    throw Fail($"'{field}' entries must be non-negative integers", tensor, 8 + reader.TokenStartIndex);
                values.Add(value);
            }
        }

        private void AddTensor(string name, string dtype, long[] shape, long begin, long end, long entryOffset)
        {
            TensorType? parsed = SafetensorsDtype.TryParse(dtype);
            if (parsed is null)
            {
                string problem = SafetensorsDtype.IsKnownUnsupported(dtype)
                    ? $"dtype '{dtype}' is not supported by this engine"
                    : $"unknown dtype '{dtype}'";
                throw Fail(problem, name, entryOffset);
            }
            TensorType type = parsed.Value;

            long? expectedBytes = type.TensorBytes(shape);
            string shapeText = "[" + string.Join(", ", shape) + "]";
            if (expectedBytes is null)
                throw Fail($"shape {shapeText} of {dtype} overflows a 64-bit byte count", name, entryOffset);
            if (end < begin)
                throw Fail($"data_offsets [{begin}, {end}] end before they begin", name, dataStart + begin);
            if (end > dataLength)
                throw Fail($"data_offsets [{begin}, {end}] run past the end of the {dataLength}-byte data buffer", name, dataStart + begin);
            if (end - begin != expectedBytes.Value)
                throw Fail($"data_offsets [{begin}, {end}] hold {end - begin} bytes but {dtype} {shapeText} needs {expectedBytes.Value}",
                    name, dataStart + begin);

            var info = new TensorInfo(name, type, shape, dataStart + begin, end - begin);
            _byName.Add(name, info);
            _ranges.Add((info, begin, end));
        }

        /// <summary>Sorts by offset and checks that the ranges tile the data buffer exactly.</summary>
        public IReadOnlyList<TensorInfo> CheckTiling()
        {
            // Ties (empty tensors at the same offset) are ordered by name so the result does not depend on the header order.
            _ranges.Sort((a, b) =>
            {
                int c = a.Begin.CompareTo(b.Begin);
                if (c == 0) c = a.End.CompareTo(b.End);
                return c != 0 ? c : string.CompareOrdinal(a.Tensor.Name, b.Tensor.Name);
            });

            long covered = 0;
            string? previous = null;
            foreach (var (tensor, begin, end) in _ranges)
            {
                if (begin < covered)
                    throw Fail($"data range [{begin}, {end}) overlaps tensor '{previous}' which ends at {covered}", tensor.Name, dataStart + begin);
                if (begin > covered)
                    throw Fail($"{begin - covered} unused bytes before this tensor at data offset {covered}; tensors must tile the data buffer",
                        tensor.Name, dataStart + covered);
                covered = end;
                previous = tensor.Name;
            }
            if (covered != dataLength)
                throw Fail($"{dataLength - covered} trailing bytes after the last tensor; tensors must tile the data buffer",
                    offset: dataStart + covered);

            return _ranges.Select(r => r.Tensor).ToArray();
        }

        private ModelFormatException Fail(string problem, string? tensor = null, long? offset = null, Exception? inner = null) =>
            new(path, problem, tensor, offset, inner);
    }
}
