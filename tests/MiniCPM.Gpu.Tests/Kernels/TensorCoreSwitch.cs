using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>Sets <see cref="GpuKernels.TensorCores"/> for one test and puts it back. Turned on, it also requires that it
/// stayed on: on a CUDA device a failed probe turns it off, and a test must not pass on the CUDA-core kernel instead.</summary>
internal sealed class TensorCoreSwitch : IDisposable
{
    private readonly GpuDevice _device;
    private readonly bool _wanted, _was;

    private TensorCoreSwitch(GpuDevice device, bool wanted)
    {
        _device = device;
        _wanted = wanted;
        _was = device.Kernels.TensorCores;
        device.Kernels.TensorCores = wanted;
    }

    public static TensorCoreSwitch On(GpuDevice device) => new(device, true);

    public static TensorCoreSwitch Off(GpuDevice device) => new(device, false);

    public void Dispose()
    {
        bool now = _device.Kernels.TensorCores;
        _device.Kernels.TensorCores = _was;
        Assert.True(now == _wanted, $"the tensor cores went off: {_device.Kernels.TensorCoreFallbackReason}");
    }
}
