using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Errors;

/// <summary>
/// The GPU has too little memory for what was asked: a model (weights, KV cache, working buffers) larger than the
/// device's free memory, found before anything is uploaded, or an allocation the driver refused later (a long prompt's
/// working buffers). The message names the device, what needed how much, what was available, and what to do instead.
/// Nothing is left half-made: a failed load frees what it had uploaded, and a failed pass leaves the model and its
/// sequences as they were before it.
/// </summary>
public sealed class GpuOutOfMemoryException : MiniCpmException
{
    public GpuOutOfMemoryException(string device, string what, long neededBytes, long? availableBytes, string advice, Exception? inner = null)
        : this(device, neededBytes, availableBytes, inner, $"{device} has too little memory for {what}: it needs {ByteSize.Format(neededBytes)}, " +
               (availableBytes is { } free ? $"{ByteSize.Format(free)} is available" : "more than the device could give") + $". {advice}")
    {
    }

    private GpuOutOfMemoryException(string device, long neededBytes, long? availableBytes, Exception? inner, string message)
        : base(message, inner)
    {
        Device = device;
        NeededBytes = neededBytes;
        AvailableBytes = availableBytes;
    }

    /// <summary>The device's name ("cuda:0").</summary>
    public string Device { get; }

    /// <summary>What the refused step needed: a whole model's plan, or (refused while it was being made) the one
    /// buffer that did not fit.</summary>
    public long NeededBytes { get; }

    /// <summary>Free device memory at the time (within <see cref="GpuDevice.MemoryLimitBytes"/>), where known.</summary>
    public long? AvailableBytes { get; }

    /// <summary>Wraps a refused allocation with what it was for.</summary>
    internal static GpuOutOfMemoryException From(GpuAllocationException e, string what, string advice) =>
        new(e.Device, e.RequestedBytes, e.AvailableBytes, e,
            $"{e.Device} has too little memory for {what}: a buffer of {ByteSize.Format(e.RequestedBytes)} was refused ({e.Reason}; " +
            $"{ByteSize.Format(e.AllocatedBytes)} held by the engine" + (e.AvailableBytes is { } free ? $", {ByteSize.Format(free)} available). " : "). ") + advice);
}
