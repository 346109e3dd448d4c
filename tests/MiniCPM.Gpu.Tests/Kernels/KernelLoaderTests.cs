using ILGPU;
using ILGPU.Runtime.Cuda;
using MiniCPM.Gpu.Tests.Models;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The kernel loader on CUDA: a PTX the driver refuses becomes a <see cref="GpuKernelCompilationException"/> carrying
/// the driver's log (ILGPU's own exception says only "a PTX JIT compilation failed", which is all an H200 run gave for
/// an instruction its target did not allow), and every loaded kernel has its registers recorded.
/// </summary>
[Collection(Simulator.Name)]
public sealed class KernelLoaderTests
{
    private static void Refused(ArrayView<int> values)
    {
        if (CudaAsm.IsSupported) CudaAsm.Emit("no.such.instruction;");
        values[Grid.IdxX] = 1;
    }

    private static void Accepted(ArrayView<int> values) => values[Grid.IdxX] = 1;

    [CudaFact]
    public void ARefusedPtxNamesTheKernelAndCarriesTheDriversLog()
    {
        using var device = GpuDevice.Open("cuda");
        var loader = new KernelLoader(device.Accelerator);
        var e = Assert.Throws<GpuKernelCompilationException>(() => loader.LoadKernel<ArrayView<int>>(Refused));
        Assert.Equal("KernelLoaderTests.Refused", e.Kernel);
        Assert.Contains("no.such.instruction", e.Ptx);
        const string Prefix = "the CUDA driver could not compile kernel KernelLoaderTests.Refused: ";
        Assert.StartsWith(Prefix, e.Message);
        string log = e.Message[Prefix.Length..];
        Assert.False(string.IsNullOrWhiteSpace(log));
        Assert.DoesNotContain("CUDA_ERROR", log); // a log, not the bare status the loader falls back to
        Assert.Contains("ptx", log, StringComparison.OrdinalIgnoreCase);
    }

    [CudaFact]
    public void EveryLoadedKernelHasItsRegistersRecorded()
    {
        using var device = GpuDevice.Open("cuda");
        var loader = new KernelLoader(device.Accelerator);
        loader.LoadKernel<ArrayView<int>>(Accepted);
        var resources = Assert.Single(loader.Resources);
        Assert.Equal("KernelLoaderTests.Accepted", resources.Kernel);
        Assert.InRange(resources.Registers, 1, 255);
        Assert.Equal(0, resources.LocalBytes);
    }
}
