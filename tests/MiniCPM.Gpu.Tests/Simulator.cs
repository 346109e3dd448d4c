using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests;

/// <summary>
/// One device shared by every kernel test (compiling kernels is the slow part); the tests that use it sit in one
/// collection, so launches never overlap. Which device comes from MINICPM_GPU_TEST_DEVICE: unset (or "cpu") is ILGPU's
/// CPU simulator, "cuda" or "cuda:N" a real GPU, so the same kernel-vs-CPU checks run on hardware. The names keep
/// "Simulator" as that is the default.
/// </summary>
[CollectionDefinition(Name)]
public sealed class Simulator : ICollectionFixture<SimulatorDevice>
{
    public const string Name = "gpu-simulator";

    /// <summary>The environment variable that picks the device of the shared fixture.</summary>
    public const string DeviceVariable = "MINICPM_GPU_TEST_DEVICE";

    /// <summary>The device name the fixture opens: the variable's value, or "cpu" (the simulator) when unset or blank.</summary>
    public static string DeviceName =>
        Environment.GetEnvironmentVariable(DeviceVariable) is { } name && !string.IsNullOrWhiteSpace(name) ? name.Trim() : "cpu";
}

public sealed class SimulatorDevice : IDisposable
{
    public SimulatorDevice()
    {
        string name = Simulator.DeviceName;
        try
        {
            Device = GpuDevice.Open(name);
        }
        catch (GpuDeviceUnavailableException e)
        {
            // Asked for a device that is not here: every test of the collection fails with this one line (no
            // fallback to the simulator, which would pass without ever touching the hardware that was asked for).
            throw new InvalidOperationException($"{Simulator.DeviceVariable}={name}: {e.Message}", e);
        }
        // One line on stderr saying which hardware the kernel checks ran on, when it is not the default simulator.
        if (!Device.IsSimulator) Console.Error.WriteLine($"MiniCPM.Gpu.Tests: kernel tests on {Device.Name} ({Device.Description})");
    }

    /// <summary>The opened device: the simulator ("cpu") unless MINICPM_GPU_TEST_DEVICE names another.</summary>
    public GpuDevice Device { get; }

    public void Dispose() => Device.Dispose();
}

/// <summary>Random inputs and tolerant comparisons shared by the kernel tests.</summary>
internal static class Check
{
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Every |actual − expected| ≤ absolute + relative·|expected|. A failure names how many values are off,
    /// the first and the worst (a failure that comes and goes on hardware is then described whole by one run).</summary>
    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double absolute, double relative = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        int off = 0, first = -1, worst = -1;
        double worstError = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (!double.IsNaN(error) && error <= absolute + relative * Math.Abs(expected[i])) continue;
            off++;
            if (first < 0) first = i;
            if (double.IsNaN(error) || error > worstError) (worst, worstError) = (i, double.IsNaN(error) ? double.PositiveInfinity : error);
        }
        if (off > 0)
            Assert.Fail($"{off} of {expected.Length} values off; first at index {first}: {actual[first]:G9} vs {expected[first]:G9}; " +
            $"worst at index {worst}: {actual[worst]:G9} vs {expected[worst]:G9} (error {worstError:G3})");
    }

    public static float[] Download(GpuDevice device, ILGPU.ArrayView<float> view, int count)
    {
        var values = new float[count];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU(view.SubView(0, count), values.AsSpan());
        return values;
    }
}
