using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>The device listing agrees with <see cref="GpuDevice.Open"/>: a device it calls usable opens under its
/// name, one it refuses is refused by Open with the same reason.</summary>
[Collection(Simulator.Name)]
public sealed class GpuDeviceCatalogTests
{
    [Fact]
    public void UsableDevicesOpenAndRefusedOnesAreRefusedForTheSameReason()
    {
        var catalog = GpuDeviceCatalog.Discover();
        Assert.True(catalog.Devices.Any(d => d.Name.StartsWith("cuda:", StringComparison.Ordinal)) || catalog.Notes.Any(n => n.StartsWith("CUDA: ", StringComparison.Ordinal)));
        Assert.True(catalog.Devices.Any(d => d.Name.StartsWith("opencl:", StringComparison.Ordinal)) || catalog.Notes.Any(n => n.StartsWith("OpenCL: ", StringComparison.Ordinal)));
        foreach (var entry in catalog.Devices)
        {
            if (entry.Unusable is null)
            {
                using var device = GpuDevice.Open(entry.Name);
                Assert.Equal(entry.Name, device.Name);
                Assert.Equal(entry.Description, device.Description);
            }
            else
            {
                var e = Assert.Throws<GpuDeviceUnavailableException>(() => GpuDevice.Open(entry.Name));
                Assert.Contains(entry.Unusable, e.Message);
            }
        }
    }
}
