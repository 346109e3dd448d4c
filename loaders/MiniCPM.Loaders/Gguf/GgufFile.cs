namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// A GGUF file (version 2 or 3): its metadata in file order and its tensors, whose data are views into a memory
/// map of the file (zero copy). The whole header is validated on open; see <see cref="GgufHeaderReader"/> for the
/// rules. Shapes are outermost first, the reverse of GGUF's ne order.
/// </summary>
public sealed class GgufFile : ITensorFile
{
    private readonly IDisposable _storage;
    private readonly NativeBytes _bytes;
    private readonly GgufHeader _header;
    private readonly Dictionary<string, GgufValue> _metadataByKey;
    private readonly Dictionary<string, TensorInfo> _tensorsByName;
    private bool _disposed;

    private GgufFile(string sourcePath, NativeBytes bytes, IDisposable storage)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading assumes a little-endian host");
        SourcePath = sourcePath;
        _bytes = bytes;
        _storage = storage;
        _header = GgufHeaderReader.Read(new GgufCursor(bytes, sourcePath));
        _metadataByKey = _header.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        _tensorsByName = _header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Maps and validates the file; throws <see cref="ModelFormatException"/> for anything malformed.</summary>
    public static GgufFile Open(string path, FileResidency residency = FileResidency.Mapped)
    {
        var mapped = new MappedFile(path, residency);
        try
        {
            return new GgufFile(path, mapped.Slice(0, mapped.Length), mapped);
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    /// <summary>Reads GGUF bytes held in memory (tests, fuzzing); <paramref name="name"/> stands for the path in messages.</summary>
    internal static GgufFile FromBytes(byte[] bytes, string name)
    {
        var pinned = new PinnedBytes(bytes);
        try
        {
            return new GgufFile(name, pinned.View, pinned);
        }
        catch
        {
            pinned.Dispose();
            throw;
        }
    }

    public string SourcePath { get; }

    public uint Version => _header.Version;

    /// <summary>Key/value pairs in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _header.Metadata;

    /// <summary>general.alignment, or 32 when the file does not set it.</summary>
    public long Alignment => _header.Alignment;

    /// <summary>Absolute file offset of the tensor data section (tensor offsets in the file are relative to it).</summary>
    public long DataStart => _header.DataStart;

    /// <summary>general.architecture, e.g. "qwen2" or "clip", when present as a string.</summary>
    public string? Architecture => Get("general.architecture") is { Type: GgufValueType.String } v ? v.AsString() : null;

    public IReadOnlyList<TensorInfo> Tensors => _header.Tensors;

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public GgufValue? Get(string key) => _metadataByKey.GetValueOrDefault(key);

    /// <summary>The value of <paramref name="key"/>; a missing key is a format error naming it.</summary>
    public GgufValue Require(string key) =>
        Get(key) ?? throw new ModelFormatException(SourcePath, $"required metadata key '{key}' is missing");

    /// <summary>
    /// Reads a required key with one of <see cref="GgufValue"/>'s accessors (e.g. <c>v =&gt; v.AsInt32()</c>); a
    /// value of the wrong type or range becomes a format error naming the key.
    /// </summary>
    public T Require<T>(string key, Func<GgufValue, T> read)
    {
        var value = Require(key);
        try
        {
            return read(value);
        }
        catch (Exception e) when (e is InvalidOperationException or OverflowException)
        {
            throw new ModelFormatException(SourcePath, $"metadata key '{key}' = {value}: {e.Message}", inner: e);
        }
    }

    public TensorInfo? Find(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>The tensor's bytes, a view into the mapped file valid until this file is disposed.</summary>
    public NativeBytes GetData(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_tensorsByName.TryGetValue(tensor.Name, out var own) || own.FileOffset != tensor.FileOffset || own.ByteLength != tensor.ByteLength)
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {SourcePath}", nameof(tensor));
        return _bytes.Slice(own.FileOffset, own.ByteLength);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _storage.Dispose();
    }
}
