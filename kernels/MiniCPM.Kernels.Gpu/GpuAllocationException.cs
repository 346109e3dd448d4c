namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// A device buffer could not be made: the driver refused it (out of device memory), or it would take the device past
/// its <see cref="GpuDevice.MemoryLimitBytes"/>. Nothing was allocated by the failed call.
/// </summary>
public sealed class GpuAllocationException : Exception
{
    public GpuAllocationException(string device, long requestedBytes, long allocatedBytes, long? availableBytes, string reason,
        Exception? inner = null)
        : base($"{device} could not allocate {ByteSize.Format(requestedBytes)}: {reason} " +
               $"({ByteSize.Format(allocatedBytes)} allocated by the engine" +
               (availableBytes is { } free ? $", {ByteSize.Format(free)} available)" : ")"), inner)
    {
        Device = device;
        Reason = reason;
        RequestedBytes = requestedBytes;
        AllocatedBytes = allocatedBytes;
        AvailableBytes = availableBytes;
    }

    /// <summary>The device's name ("cuda:0").</summary>
    public string Device { get; }

    /// <summary>Why: the memory limit, or the driver's words.</summary>
    public string Reason { get; }

    /// <summary>The size of the buffer that was refused.</summary>
    public long RequestedBytes { get; }

    /// <summary>What the engine's live buffers on the device held when it was refused.</summary>
    public long AllocatedBytes { get; }

    /// <summary>What the device could still give (<see cref="GpuDevice.AvailableBytes"/>), where known.</summary>
    public long? AvailableBytes { get; }
}
