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

    [Fact]
    public void TheFacadeDefaultsToTheCpuBackend() => Assert.Equal("cpu", new MiniCpmOptions().Device);
}
