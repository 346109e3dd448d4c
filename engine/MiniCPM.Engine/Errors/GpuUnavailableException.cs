namespace MiniCPM.Engine.Errors;

/// <summary>
/// The GPU backend was asked for (<c>--device cuda</c>, <see cref="MiniCpmOptions.Device"/>) but the device cannot be
/// used: no driver, no such device, or a model the GPU kernels cannot run. The message says to use the CPU backend.
/// </summary>
public sealed class GpuUnavailableException : MiniCpmException
{
    public string Device { get; }

    public GpuUnavailableException(string device, string message, Exception? inner = null) : base(message, inner)
    {
        Device = device;
    }
}
