namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The requested GPU device cannot be used: no CUDA/OpenCL driver, no such device index, or a malformed device name.
/// The message names the problem and what to use instead (the CPU backend).
/// </summary>
public sealed class GpuDeviceUnavailableException : Exception
{
    public GpuDeviceUnavailableException(string device, string reason, Exception? inner = null)
        : base($"GPU device '{device}' is not available: {reason}. Use --device cpu (the CPU backend) instead.", inner)
    {
        Device = device;
    }

    /// <summary>The device name as requested ("cuda:1", "opencl", ...).</summary>
    public string Device { get; }
}
