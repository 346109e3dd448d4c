using MiniCPM.Gpu.Tests.Models;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The device's memory accounting: <see cref="GpuDevice.AllocatedBytes"/> counts live buffers, a
/// <see cref="GpuDevice.MemoryLimitBytes"/> refuses what would pass it (nothing allocated, a typed error naming the
/// sizes), and a <see cref="GpuAllocationScope"/> frees what its thread made unless completed. Each test opens its own
/// simulator device, so the counts start at zero (no kernel is launched).
/// </summary>
public sealed class DeviceMemoryTests
{
    [Fact]
    public void AllocatedBytesCountLiveBuffersUntilDisposed()
    {
        using var device = GpuDevice.Open("cpu");
        Assert.Equal(0, device.AllocatedBytes);
        var floats = device.Allocate<float>(1000);
        using var words = device.Allocate<UInt4>(10);
        using var empty = device.Allocate<int>(0); // one element: ILGPU has no empty buffers
        Assert.Equal(4000 + 160 + 4, device.AllocatedBytes);
        floats.Dispose();
        Assert.Equal(164, device.AllocatedBytes);
        Assert.Null(device.FreeBytes); // only CUDA's driver reports free memory
        Assert.Null(device.AvailableBytes);
    }

    [Fact]
    public void AnAllocationPastTheLimitIsRefusedAndMakesNothing()
    {
        using var device = GpuDevice.Open("cpu");
        device.MemoryLimitBytes = 10_000;
        var first = device.Allocate<float>(2000);
        Assert.Equal(2000, device.AvailableBytes);

        var e = Assert.Throws<GpuAllocationException>(() => device.Allocate<float>(1000));
        Assert.Equal("cpu", e.Device);
        Assert.Equal(4000, e.RequestedBytes);
        Assert.Equal(8000, e.AllocatedBytes);
        Assert.Equal(2000, e.AvailableBytes);
        Assert.Contains("could not allocate 3.9 KiB", e.Message);
        Assert.Contains("memory limit is 9.8 KiB", e.Message);
        Assert.Equal(8000, device.AllocatedBytes);

        using var fits = device.Allocate<float>(500); // exactly the room left
        Assert.Equal(0, device.AvailableBytes);
        first.Dispose();
        using var again = device.Allocate<float>(1000);
        Assert.Equal(6000, device.AllocatedBytes);

        Assert.Throws<ArgumentOutOfRangeException>(() => device.MemoryLimitBytes = -1);
        device.MemoryLimitBytes = null;
        Assert.Null(device.AvailableBytes);
    }

    [Fact]
    public void AbsurdSizesAreRefusedWithoutOverflow()
    {
        using var device = GpuDevice.Open("cpu");
        device.MemoryLimitBytes = 1L << 30;
        var e = Assert.Throws<GpuAllocationException>(() => device.Allocate<UInt4>(long.MaxValue / 2)); // 16-byte words: past long's range
        Assert.Equal(long.MaxValue, e.RequestedBytes);
        Assert.Equal(0, device.AllocatedBytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Allocate<float>(-1));
    }

    [Fact]
    public void AScopeFreesWhatItsThreadMadeUnlessCompleted()
    {
        using var device = GpuDevice.Open("cpu");
        using var before = device.Allocate<float>(10);

        var made = new List<ILGPU.Runtime.MemoryBuffer>();
        ILGPU.Runtime.MemoryBuffer? otherThreads = null;
        using (device.BeginAllocationScope())
        {
            made.Add(device.Allocate<float>(100));
            made.Add(device.Upload<int>([1, 2, 3]));
            // Another thread's allocation during the scope (another model's pass on the same device) is not the scope's.
            var other = new Thread(() => otherThreads = device.Allocate<float>(7));
            other.Start();
            other.Join();
        }
        Assert.All(made, b => Assert.True(b.IsDisposed));
        Assert.False(before.IsDisposed);
        Assert.False(otherThreads!.IsDisposed);
        Assert.Equal(40 + 28, device.AllocatedBytes);
        otherThreads.Dispose();

        using (var scope = device.BeginAllocationScope())
        {
            made.Add(device.Allocate<float>(100));
            scope.Complete();
        }
        Assert.False(made[^1].IsDisposed);
        made[^1].Dispose();
    }

    [Fact]
    public void AFailedOuterScopeFreesWhatACompletedInnerScopeKept()
    {
        using var device = GpuDevice.Open("cpu");
        ILGPU.Runtime.MemoryBuffer? inner = null, outer = null;
        var e = Assert.Throws<InvalidOperationException>(() => device.AllOrNothing<int>(() =>
        {
            outer = device.Allocate<float>(8);
            inner = device.AllOrNothing(() => device.Allocate<float>(16)); // the weights uploaded, say
            throw new InvalidOperationException("a malformed tensor after them");
        }));
        Assert.Equal("a malformed tensor after them", e.Message);
        Assert.True(inner!.IsDisposed);
        Assert.True(outer!.IsDisposed);
        Assert.Equal(0, device.AllocatedBytes);

        // Made for a long-lived object during someone else's failing work (a model's working buffers grown in a pass):
        // an outer failure must not free it.
        ILGPU.Runtime.MemoryBuffer? lasting = null;
        Assert.Throws<InvalidOperationException>(() => device.AllOrNothing<int>(() =>
        {
            lasting = device.AllOrNothing(() => device.Allocate<float>(4), outlivesOuterScopes: true);
            throw new InvalidOperationException();
        }));
        Assert.False(lasting!.IsDisposed);
        lasting.Dispose();

        // Completed all the way out: kept.
        var kept = device.AllOrNothing(() => device.AllOrNothing(() => device.Allocate<float>(16)));
        Assert.False(kept.IsDisposed);
        Assert.Equal(64, device.AllocatedBytes);
        kept.Dispose();
    }

    [CudaFact]
    public void OnCudaTheDriversFreeMemoryIsReportedAndItsRefusalIsTyped()
    {
        using var device = GpuDevice.Open("cuda");
        long free = device.FreeBytes!.Value;
        Assert.InRange(free, 1, device.MemoryBytes);
        using (var buffer = device.Allocate<byte>(256L << 20))
        {
            Assert.Equal(256L << 20, device.AllocatedBytes);
            Assert.InRange(free - device.FreeBytes!.Value, 192L << 20, 512L << 20); // the driver's granularity; nothing else runs
            device.MemoryLimitBytes = 300L << 20;
            Assert.Equal(44L << 20, device.AvailableBytes);
            device.MemoryLimitBytes = null;
        }

        // Past the whole device: the driver refuses (no limit set), and that is the typed error with the driver's words.
        var e = Assert.Throws<GpuAllocationException>(() => device.Allocate<byte>(2 * device.MemoryBytes));
        Assert.NotNull(e.InnerException); // ILGPU's CudaException, whose message the error carries
        Assert.Contains("the driver refused it", e.Message);
        Assert.Equal(0, device.AllocatedBytes);
        using var after = device.Allocate<float>(1024); // the device still works
    }
}
