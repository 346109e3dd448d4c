using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// One safetensors file, memory-mapped: the header is parsed and validated on open, tensor data are zero-copy views
/// into the map. <see cref="Tensors"/> are in file order (sorted by data offset), which for files written by Hugging
/// Face differs from the order of the JSON header.
/// </summary>
public sealed unsafe class SafetensorsFile : ITensorFile
{
    private readonly MappedFile? _map;
    private readonly byte[]? _pinnedCopy; // keeps the in-memory copy of OpenBytes alive; pinned, so its address is stable
    private readonly NativeBytes _bytes;
    private readonly Dictionary<string, TensorInfo> _byName;
    private bool _disposed;

    public string SourcePath { get; }

    /// <summary>The <c>__metadata__</c> string map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes of the JSON header (N), padding included.</summary>
    public long HeaderLength { get; }

    /// <summary>Absolute file offset of the data buffer: 8 + N.</summary>
    public long DataStart { get; }

    /// <summary>Tensors sorted by data offset (file order).</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    private SafetensorsFile(string sourcePath, NativeBytes bytes, MappedFile? map, byte[]? pinnedCopy)
    {
        SourcePath = sourcePath;
        _bytes = bytes;
        _map = map;
        _pinnedCopy = pinnedCopy;

        var header = SafetensorsHeader.Parse(sourcePath, bytes);
        Metadata = header.Metadata;
        HeaderLength = header.HeaderLength;
        DataStart = header.DataStart;
        Tensors = header.Tensors;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Maps and validates a file; any problem is a <see cref="ModelFormatException"/>.</summary>
    public static SafetensorsFile Open(string path, FileResidency residency = FileResidency.Mapped)
    {
        var map = new MappedFile(path, residency);
        try
        {
            var bytes = map.Length == 0 ? new NativeBytes(null, 0) : map.Slice(0, map.Length);
            return new SafetensorsFile(path, bytes, map, null);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Parses a file held in memory (a pinned copy of <paramref name="content"/>). Same validation as <see cref="Open"/>;
    /// lets the fuzz tests run thousands of cases without touching the disk.
    /// </summary>
    internal static SafetensorsFile OpenBytes(string name, ReadOnlySpan<byte> content)
    {
        var copy = GC.AllocateUninitializedArray<byte>(content.Length, pinned: true);
        content.CopyTo(copy);
        var pointer = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(copy));
        return new SafetensorsFile(name, new NativeBytes(pointer, copy.Length), null, copy);
    }

    public TensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    public NativeBytes GetData(TensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_byName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {SourcePath}", nameof(tensor));
        GC.KeepAlive(_pinnedCopy);
        return _bytes.Slice(tensor.FileOffset, tensor.ByteLength);
    }

    public void Dispose()
    {
        _disposed = true;
        _map?.Dispose();
    }
}
