using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>Runs a test body with <see cref="GpuKernels.TensorCores"/> set, and puts it back. With the tensor cores on,
/// it also requires, after the body, that they stayed on: on a CUDA device a failed probe turns them off, and a test
/// must not pass on the CUDA-core kernel instead.</summary>
internal static class TensorCoreSwitch
{
    public static void With(GpuDevice device, bool tensorCores, Action body)
    {
        bool was = device.Kernels.TensorCores;
        device.Kernels.TensorCores = tensorCores;
        try
        {
            body();
            Assert.True(device.Kernels.TensorCores == tensorCores, $"the tensor cores went off: {device.Kernels.TensorCoreFallbackReason}");
        }
        finally { device.Kernels.TensorCores = was; }
    }
}
