using System.Runtime.InteropServices;

namespace MiniCPM.Loaders.Gguf;

/// <summary>A managed byte array pinned for the lifetime of a reader, so in-memory files share the memory-map code path.</summary>
internal sealed unsafe class PinnedBytes : IDisposable
{
    private GCHandle _handle;

    public PinnedBytes(byte[] bytes)
    {
        _handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        View = new NativeBytes((byte*)_handle.AddrOfPinnedObject(), bytes.Length);
    }

    public NativeBytes View { get; }

    public void Dispose()
    {
        if (_handle.IsAllocated) _handle.Free();
    }
}
