using System.IO.MemoryMappedFiles;

namespace MiniCPM.Loaders;

/// <summary>
/// The bytes of a whole file, read-only: a memory map (zero copy) or, with <see cref="FileResidency.InMemory"/>, one
/// read into anonymous memory. Tensor data are views into it; it lives until disposed.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private const nuint HugePage = 2 << 20;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;
    private byte* _owned;

    public string Path { get; }
    public long Length { get; }
    public FileResidency Residency { get; }

    public MappedFile(string path, FileResidency residency = FileResidency.Mapped)
    {
        Path = path;
        Residency = residency;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            Length = stream.Length;
            if (Length == 0) return; // an empty file cannot be mapped; readers report it as truncated
            if (residency == FileResidency.InMemory)
            {
                ReadIntoMemory(stream);
                return;
            }
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
        catch (OutOfMemoryException e)
        {
            Dispose();
            throw new ModelFormatException(path, $"cannot hold the {Length}-byte file in memory: {e.Message}", inner: e);
        }
    }

    /// <summary>Reads the whole file into 2 MiB-aligned anonymous memory, asking Linux for huge pages first.</summary>
    private void ReadIntoMemory(FileStream stream)
    {
        nuint size = ((nuint)Length + HugePage - 1) / HugePage * HugePage;
        _owned = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(size, HugePage);
        if (OperatingSystem.IsLinux()) HugePages.Advise(_owned, size);
        long offset = 0;
        while (offset < Length)
        {
            int chunk = (int)Math.Min(Length - offset, 64 << 20);
            int read = RandomAccess.Read(stream.SafeFileHandle, new Span<byte>(_owned + offset, chunk), offset);
            if (read <= 0) throw new IOException($"the file ended at byte {offset} while {Length} were expected");
            offset += read;
        }
        _pointer = _owned;
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
        if (_owned != null)
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(_owned);
            _owned = null;
            _pointer = null;
        }
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
