using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>Norms, softmax and the elementwise kernels against the CPU backend on random rows.</summary>
[Collection(Simulator.Name)]
public sealed class RowKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(3, 300)] // in registers (4 quads per thread), not a multiple of the group size
    [InlineData(1, 4100)] // past the 4096 columns that fit in registers: the strided loop
    [InlineData(2, 301)] // not whole quads: the strided loop
    public void RmsNormMatchesTheCpu(int rows, int cols)
    {
        float[] x = Check.Random(rows * cols, 1, scale: 3), w = Check.Random(cols, 2);
        var expected = new float[rows * cols];
        RmsNorm.ApplyRows(x, rows, w, 1e-6f, expected);

        using var xs = _device.Upload<float>(x);
        using var ws = _device.Upload<float>(w);
        using var ys = _device.Allocate<float>(rows * cols);
        _device.Kernels.RmsNorm(xs.View, rows, ws.View, 1e-6f, ys.View);
        Check.Close(expected, Check.Download(_device, ys.View, rows * cols), absolute: 1e-6, relative: 1e-5);
    }

    [Fact]
    public void LayerNormMatchesTheCpu()
    {
        const int rows = 2, cols = 200;
        float[] x = Check.Random(rows * cols, 3, scale: 2), w = Check.Random(cols, 4), b = Check.Random(cols, 5);
        for (int i = 0; i < x.Length; i++) x[i] += 5; // an offset mean, so the centring matters
        var expected = new float[rows * cols];
        LayerNorm.ApplyRows(x, rows, w, b, 1e-6f, expected);

        using var xs = _device.Upload<float>(x);
        using var ws = _device.Upload<float>(w);
        using var bs = _device.Upload<float>(b);
        using var ys = _device.Allocate<float>(rows * cols);
        _device.Kernels.LayerNorm(xs.View, rows, ws.View, bs.View, 1e-6f, ys.View);
        Check.Close(expected, Check.Download(_device, ys.View, rows * cols), absolute: 1e-5, relative: 1e-5);
    }

    [Fact]
    public void SoftmaxMatchesTheCpu()
    {
        const int rows = 2, cols = 333;
        float[] x = Check.Random(rows * cols, 6, scale: 10);
        var expected = (float[])x.Clone();
        for (int r = 0; r < rows; r++) Softmax.Apply(expected.AsSpan(r * cols, cols));

        using var xs = _device.Upload<float>(x);
        _device.Kernels.Softmax(xs.View, rows, cols);
        Check.Close(expected, Check.Download(_device, xs.View, rows * cols), absolute: 1e-7, relative: 1e-5);
    }

    [Fact]
    public void ElementwiseKernelsMatchTheCpu()
    {
        const int n = 1000;
        float[] a = Check.Random(n, 7, scale: 6), b = Check.Random(n, 8, scale: 6);
        using var av = _device.Upload<float>(a);
        using var bv = _device.Upload<float>(b);
        using var y = _device.Allocate<float>(n);

        var expected = new float[n];
        Elementwise.Add(a, b, expected);
        _device.Kernels.Add(av.View, bv.View, y.View, n);
        Check.Close(expected, Check.Download(_device, y.View, n), absolute: 0);

        Activations.SiluMul(a, b, expected);
        _device.Kernels.SiluMul(av.View, bv.View, y.View, n);
        Check.Close(expected, Check.Download(_device, y.View, n), absolute: 1e-6, relative: 1e-5);

        Activations.GeluTanh(a, expected);
        _device.Kernels.GeluTanh(av.View, y.View, n);
        Check.Close(expected, Check.Download(_device, y.View, n), absolute: 1e-6, relative: 1e-5);
    }
}
