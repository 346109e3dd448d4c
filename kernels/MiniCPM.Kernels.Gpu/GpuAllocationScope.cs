using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Loading a model allocates hundreds of buffers; if any step fails (the device out of memory, a malformed tensor
/// halfway through the file), the ones made so far must not stay on a device that other models share. Every buffer
/// this thread makes through <see cref="GpuDevice.Allocate{T}"/> while the scope is open is recorded; disposing the
/// scope without <see cref="Complete"/> frees them all. Scopes nest: a completed inner scope hands its buffers to the
/// outer one, which frees them too if it fails. Dispose a scope on the thread that began it.
/// <code>
/// using var scope = device.BeginAllocationScope();
/// var model = BuildOnDevice(device);
/// scope.Complete();
/// return model;
/// </code>
/// </summary>
public sealed class GpuAllocationScope : IDisposable
{
    private readonly DeviceMemoryLedger _ledger;
    private readonly bool _detached;
    private List<MemoryBuffer>? _made = [];
    private bool _disposed;

    internal GpuAllocationScope(DeviceMemoryLedger ledger, GpuAllocationScope? outer, bool detached)
    {
        _ledger = ledger;
        Outer = outer;
        _detached = detached;
    }

    internal GpuAllocationScope? Outer { get; }

    internal void Add(MemoryBuffer buffer) => _made?.Add(buffer);

    /// <summary>The work succeeded: its buffers stay (with the outer scope, if any, still answerable for them, unless
    /// this scope was begun detached).</summary>
    public void Complete()
    {
        if (_made is null) return;
        if (!_detached) Outer?._made?.AddRange(_made);
        _made = null;
    }

    /// <summary>Frees every buffer recorded, newest first, unless <see cref="Complete"/> was called.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ledger.End(this);
        if (_made is null) return;
        // Kernels queued on these buffers (a random fill) finish before their memory goes back.
        if (_made.Count > 0)
        {
            try
            {
                _made[0].Accelerator.Synchronize();
            }
            catch (AcceleratorException)
            {
                // A device already failing (the error that ended the work) still has its buffers freed below.
            }
        }
        var made = _made;
        _made = null;
        for (int i = made.Count - 1; i >= 0; i--)
        {
            try
            {
                made[i].Dispose();
            }
            catch (AcceleratorException)
            {
                // A broken context may refuse one free; the others are still attempted, and the work's own error
                // (not this one) is what propagates.
            }
        }
    }
}
