using System.IO.MemoryMappedFiles;

namespace MiniCPM.Loaders;

/// <summary>
/// A read-only memory map of a whole file. Tensor data are views into it (zero copy); the map lives until disposed.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    public MappedFile(string path)
    {
        Path = path;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Length = stream.Length;
            if (Length == 0) return; // an empty file cannot be mapped; readers report it as truncated
            _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
            _pointer += _view.PointerOffset;
        }
        catch (IOException e)
        {
            Dispose();
            throw new ModelFormatException(path, $"cannot open or map the file: {e.Message}", inner: e);
        }
        catch (UnauthorizedAccessException e)
        {
            Dispose();
            throw new ModelFormatException(path, $"cannot open the file: {e.Message}", inner: e);
        }
    }

    /// <summary>Start of the mapping; valid until <see cref="Dispose"/>.</summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null && Length != 0, this);
            return _pointer;
        }
    }

    /// <summary>A view of <paramref name="length"/> bytes at <paramref name="offset"/>; bounds checked.</summary>
    public NativeBytes Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new ModelFormatException(Path, $"range [{offset}, {offset}+{length}) is outside the file of {Length} bytes", offset: offset);
        return new NativeBytes(Length == 0 ? null : Pointer + offset, length);
    }

    /// <summary>A span over a small range (header parsing); bounds checked.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length) => Slice(offset, length).AsSpan();

    public void Dispose()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
