using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The device memory the engine holds on one <see cref="GpuDevice"/>: every buffer made through
/// <see cref="GpuDevice.Allocate{T}"/>, counted until it is disposed (or collected), an optional limit that
/// allocations are checked against before the driver is asked, and each thread's open <see cref="GpuAllocationScope"/>.
/// Buffers are held weakly, so counting one never keeps it alive.
/// </summary>
internal sealed class DeviceMemoryLedger : IDisposable
{
    private readonly object _lock = new();
    private readonly List<(WeakReference<MemoryBuffer> Buffer, long Bytes)> _live = [];
    private readonly ThreadLocal<GpuAllocationScope?> _scopes = new();
    private long _liveBytes;
    private long? _limit;

    /// <summary>Bytes of the live buffers, plus those admitted and still being allocated.</summary>
    public long LiveBytes
    {
        get
        {
            lock (_lock)
            {
                Prune();
                return _liveBytes;
            }
        }
    }

    public long? Limit
    {
        get => _limit;
        set
        {
            if (value < 0) throw new ArgumentOutOfRangeException(nameof(value), value, "a memory limit cannot be negative");
            _limit = value;
        }
    }

    /// <summary>Counts <paramref name="bytes"/> as allocated before the driver is asked; false (nothing counted) when
    /// that would pass the limit. Two threads allocating at once cannot both slip under it.</summary>
    public bool TryAdmit(long bytes)
    {
        lock (_lock)
        {
            Prune();
            if (_limit is { } limit && bytes > limit - _liveBytes) return false;
            _liveBytes += bytes;
            return true;
        }
    }

    /// <summary>Takes back what <see cref="TryAdmit"/> counted for an allocation the driver refused.</summary>
    public void Withdraw(long bytes)
    {
        lock (_lock) _liveBytes -= bytes;
    }

    /// <summary>Records an admitted buffer, also in this thread's open scope.</summary>
    public void Track(MemoryBuffer buffer, long bytes)
    {
        lock (_lock) _live.Add((new WeakReference<MemoryBuffer>(buffer), bytes));
        _scopes.Value?.Add(buffer);
    }

    public GpuAllocationScope Begin(bool detached = false)
    {
        var scope = new GpuAllocationScope(this, _scopes.Value, detached);
        _scopes.Value = scope;
        return scope;
    }

    /// <summary>Called by a scope's Dispose: if the scope is open on this thread, its outer scope becomes the open one
    /// (scopes inside it, left undisposed, close with it). A scope disposed on another thread changes nothing here.</summary>
    internal void End(GpuAllocationScope scope)
    {
        for (var open = _scopes.Value; open is not null; open = open.Outer)
            if (ReferenceEquals(open, scope))
            {
                _scopes.Value = scope.Outer;
                return;
            }
    }

    /// <summary>Drops disposed and collected buffers from the count (ILGPU frees a collected buffer's memory).</summary>
    private void Prune()
    {
        int kept = 0;
        for (int i = 0; i < _live.Count; i++)
        {
            var (reference, bytes) = _live[i];
            if (!reference.TryGetTarget(out var buffer) || buffer.IsDisposed)
            {
                _liveBytes -= bytes;
                continue;
            }
            _live[kept++] = _live[i];
        }
        _live.RemoveRange(kept, _live.Count - kept);
    }

    public void Dispose() => _scopes.Dispose();
}
