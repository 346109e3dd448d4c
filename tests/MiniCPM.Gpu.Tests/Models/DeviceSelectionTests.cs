using MiniCPM.Engine;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>A device that cannot be used gives a typed error that names the problem and points at the CPU backend.</summary>
public sealed class DeviceSelectionTests
{
    [Theory]
    [InlineData("cuda:99")]
    [InlineData("tpu")]
    [InlineData("cuda:x")]
    [InlineData("cpu:1")]
    [InlineData("opencl:63")]
    public void AnUnusableDeviceIsATypedErrorThatSuggestsTheCpu(string device)
    {
        var e = Assert.Throws<GpuDeviceUnavailableException>(() => GpuDevice.Open(device));
        Assert.Equal(device, e.Device);
        Assert.Contains("--device cpu", e.Message);
    }

    [Fact]
    public void TheEngineWrapsItInAMiniCpmException()
    {
        var e = Assert.Throws<GpuUnavailableException>(() =>
            Qwen2GpuModel.Load(Path.Combine(TestData.GoldenCase("llm"), "model.safetensors"), new Qwen2GpuOptions { Device = "cuda:99" }));
        Assert.IsAssignableFrom<MiniCpmException>(e);
        Assert.Contains("--device cpu", e.Message);
    }

    [Theory]
    [InlineData(64, 1024, 65536, "warps")] // an AMD GCN/CDNA wavefront through OpenCL
    [InlineData(16, 1024, 65536, "warps")] // an Intel sub-group
    [InlineData(32, 128, 65536, "threads per group")]
    [InlineData(32, 1024, 32768, "shared memory")]
    public void ADeviceTheKernelsWouldComputeWrongOnIsRefusedWithItsReason(int warp, int threads, long shared, string named)
    {
        string? reason = GpuDevice.UnmetRequirement(warp, threads, shared);
        Assert.NotNull(reason);
        Assert.Contains(named, reason);
    }

    [Fact]
    public void TheDevicesTheKernelsAreWrittenForMeetTheRequirements()
    {
        Assert.Null(GpuDevice.UnmetRequirement(32, 1024, 48 * 1024)); // CUDA: every NVIDIA GPU since Kepler
        using var simulator = GpuDevice.Open("cpu");
        var a = simulator.Accelerator;
        Assert.Null(GpuDevice.UnmetRequirement(a.WarpSize, a.MaxNumThreadsPerGroup, a.MaxSharedMemoryPerGroup));
    }

    [Theory]
    [InlineData("cuda", "libcuda.so.1")]
    [InlineData("OpenCL", "libOpenCL.so.1")]
    [InlineData("libOpenCL.so", "libOpenCL.so.1")]
    [InlineData("nvcuda", null)]
    [InlineData("libc", null)]
    public void OnlyTheDriverLibrariesFallBackToTheirVersionedNames(string library, string? versioned) =>
        Assert.Equal(versioned, DriverLibraryFallback.VersionedName(library));

    [Fact]
    public void TheFacadeDefaultsToTheCpuBackend() => Assert.Equal("cpu", new MiniCpmOptions().Device);
}
