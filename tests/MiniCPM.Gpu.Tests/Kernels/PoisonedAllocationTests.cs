using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// <see cref="GpuDevice.PoisonAllocations"/>: new buffers come filled with 0xFF bytes (NaN floats, −1 ints), so a
/// kernel reading what nobody wrote shows on the simulator too (its fresh memory is zero, a GPU's holds leftovers).
/// The whole Gpu test group passed with MINICPM_GPU_POISON=1 (2026-11-27).
/// </summary>
[Collection(Simulator.Name)]
public sealed class PoisonedAllocationTests(SimulatorDevice simulator)
{
    [Fact]
    public void NewBuffersHoldAllOnesUntilWritten()
    {
        var device = simulator.Device;
        bool before = device.PoisonAllocations;
        try
        {
            device.PoisonAllocations = true;
            using var floats = device.Allocate<float>(37);
            using var ints = device.Allocate<int>(5);
            Assert.All(Check.Download(device, floats.View, 37), v => Assert.Equal(-1, BitConverter.SingleToInt32Bits(v)));
            var host = new int[5];
            ((ArrayView<int>)ints.View).CopyToCPU(host);
            Assert.All(host, v => Assert.Equal(-1, v));

            device.PoisonAllocations = false;
            using var plain = device.Upload<float>([1f, 2f]);
            Assert.Equal([1f, 2f], Check.Download(device, plain.View, 2));
        }
        finally
        {
            device.PoisonAllocations = before;
        }
    }
}
