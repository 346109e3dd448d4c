using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The shared-memory tiled matrix kernel (what <see cref="GpuKernels.MatMul"/> takes from
/// <see cref="GpuKernels.TiledMinTokens"/> tokens on) against the CPU backend's MatMul on the same file-format bytes,
/// for every weight type: edge tiles (rows and tokens not multiples of 64), one 32-column unit, several K-quant
/// super-blocks, bias, accumulation and outputs wider than the matrix (a fused projection's part of each row). On a
/// CUDA device the tiled products default to the tensor cores: these tests pin the CUDA-core kernel
/// (<see cref="TensorCoreMatMulKernelTests"/> runs the same cases on the tensor cores).
/// Shapes stay at ≤ 4 groups per launch: the simulator is slow.
/// </summary>
[Collection(Simulator.Name)]
public sealed unsafe class TiledMatMulKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    public static TheoryData<TensorType, int, int, int> Cases => new()
    {
        { TensorType.F32, 70, 64, 49 },  // two row tiles, the second 6 rows; one partial token tile
        { TensorType.F16, 5, 32, 48 },   // one unit of columns; the threshold's token count
        { TensorType.BF16, 64, 96, 65 }, // a whole row tile; a second token tile of one token
        { TensorType.Q8_0, 33, 128, 50 },
        { TensorType.Q4_0, 100, 64, 70 }, // four groups, both edges partial
        { TensorType.Q4_K, 9, 512, 48 },  // two super-blocks per row
        { TensorType.Q6_K, 7, 256, 52 },
        { TensorType.Q4_K, 130, 256, 53 }, // three row tiles, the last 2 rows
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheCpuBackend(TensorType type, int rows, int cols, int tokens)
    {
        Assert.True(tokens >= _device.Kernels.TiledMinTokens); // these shapes exercise the tiled kernel
        TensorCoreSwitch.With(_device, tensorCores: false, () => MatMulKernelTests.ExpectTheCpuProduct(_device, type, rows, cols, tokens));
    }

    /// <summary>Two matrices fill one fused output row each (yStride = both widths, the second at an offset), the
    /// second also adding into what is already there: the fused q|k|v / residual-add uses, with and without bias.</summary>
    [Fact]
    public void WritesItsPartOfWiderRowsAndAccumulates()
    {
        TensorCoreSwitch.With(_device, tensorCores: false, () => ExpectFusedRowsAndAccumulation(_device));
    }

    internal static void ExpectFusedRowsAndAccumulation(GpuDevice device)
    {
        const int cols = 64, tokens = 49, rowsA = 10, rowsB = 67, stride = rowsA + rowsB + 3; // tiled (≥ 48 tokens)
        byte[] bytesA = WeightBytes.Random(TensorType.Q8_0, rowsA, cols, seed: 21);
        byte[] bytesB = WeightBytes.Random(TensorType.F16, rowsB, cols, seed: 22);
        float[] x = Check.Random(tokens * cols, seed: 23);
        float[] biasA = Check.Random(rowsA, seed: 24);
        float[] initial = Check.Random(tokens * stride, seed: 25);
        float[] a = Cpu(TensorType.Q8_0, bytesA, rowsA, cols, x, tokens, biasA);
        float[] b = Cpu(TensorType.F16, bytesB, rowsB, cols, x, tokens, bias: null);
        float[] expected = (float[])initial.Clone();
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rowsA; r++) expected[t * stride + r] = a[t * rowsA + r];
            for (int r = 0; r < rowsB; r++) expected[t * stride + rowsA + r] += b[t * rowsB + r];
        }

        using var matrixA = GpuMatrix.Upload(device, TensorType.Q8_0, bytesA, rowsA, cols);
        using var matrixB = GpuMatrix.Upload(device, TensorType.F16, bytesB, rowsB, cols);
        using var xs = device.Upload<float>(x);
        using var ys = device.Upload<float>(initial);
        using var bias = device.Upload<float>(biasA);
        device.Kernels.MatMul(matrixA, xs.View, tokens, ys.View, bias.View, yStride: stride);
        device.Kernels.MatMul(matrixB, xs.View, tokens, ys.View.SubView(rowsA, tokens * stride - rowsA), accumulate: true, yStride: stride);
        // The 3 padding floats of each row stay untouched: compared exactly with everything else.
        Check.Close(expected, Check.Download(device, ys.View, tokens * stride), absolute: 2e-4 * Math.Sqrt(cols), relative: 1e-4);
    }

    private static float[] Cpu(TensorType type, byte[] bytes, int rows, int cols, float[] x, int tokens, float[]? bias)
    {
        var y = new float[tokens * rows];
        fixed (byte* data = bytes)
            MatMul.Multiply(WeightMatrix.Contiguous(type, data, rows, cols), x, tokens, y, bias);
        return y;
    }
}
