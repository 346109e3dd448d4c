using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests;

/// <summary>
/// One ILGPU CPU-simulator device shared by every test (compiling kernels is the slow part); the tests that use it
/// sit in one collection, so launches never overlap.
/// </summary>
[CollectionDefinition(Name)]
public sealed class Simulator : ICollectionFixture<SimulatorDevice>
{
    public const string Name = "gpu-simulator";
}

public sealed class SimulatorDevice : IDisposable
{
    public GpuDevice Device { get; } = GpuDevice.Open("cpu");

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

    /// <summary>Every |actual − expected| ≤ absolute + relative·|expected|.</summary>
    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double absolute, double relative = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            Assert.False(double.IsNaN(error), $"NaN at {i}");
            Assert.True(error <= absolute + relative * Math.Abs(expected[i]),
                $"index {i}: {actual[i]:G9} vs {expected[i]:G9} (error {error:G3})");
        }
    }

    public static float[] Download(GpuDevice device, ILGPU.ArrayView<float> view, int count)
    {
        var values = new float[count];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU(view.SubView(0, count), values.AsSpan());
        return values;
    }
}
