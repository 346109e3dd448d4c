using ILGPU;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The GPU matrix kernel against the CPU backend's MatMul on the same file-format bytes, for every weight type, at
/// shapes that exercise odd row counts, partial token groups and (for the K-quants) several super-blocks per row.
/// </summary>
[Collection(Simulator.Name)]
public sealed unsafe class MatMulKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    public static TheoryData<TensorType, int, int, int> Cases => new()
    {
        { TensorType.F32, 5, 64, 1 },
        { TensorType.F16, 7, 96, 3 },
        { TensorType.BF16, 9, 64, 6 },
        { TensorType.Q8_0, 11, 128, 1 },
        { TensorType.Q8_0, 4, 64, 5 },
        { TensorType.Q4_0, 13, 128, 1 },
        { TensorType.Q4_0, 6, 64, 7 },
        { TensorType.Q4_K, 5, 512, 1 },
        { TensorType.Q4_K, 3, 256, 5 },
        { TensorType.Q6_K, 5, 512, 1 },
        { TensorType.Q6_K, 3, 256, 6 },
        { TensorType.Q4_0, 3, 8192, 2 }, // long rows: a whole group of warps shares each row pair
        { TensorType.Q4_0, 3, 8192, 1 }, // long rows, one token: the two-sum reduction across the group's warps
        { TensorType.Q4_1, 7, 64, 3 },
        { TensorType.Q5_0, 9, 96, 1 },
        { TensorType.Q5_1, 5, 64, 4 },
        { TensorType.Q5_K, 5, 512, 1 },
        { TensorType.Q5_K, 3, 256, 5 },
        { TensorType.Q2_K, 5, 512, 1 },
        { TensorType.Q3_K, 3, 256, 5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheCpuBackend(TensorType type, int rows, int cols, int tokens) =>
        ExpectTheCpuProduct(_device, type, rows, cols, tokens);

    /// <summary>
    /// Y = W·X + b through <see cref="GpuKernels.MatMul"/> (whichever kernel it picks for <paramref name="tokens"/>)
    /// against the CPU backend's MatMul on the same file-format bytes.
    /// </summary>
    internal static void ExpectTheCpuProduct(GpuDevice device, TensorType type, int rows, int cols, int tokens)
    {
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed: rows * 31 + cols);
        float[] x = Check.Random(tokens * cols, seed: 7);
        float[] bias = Check.Random(rows, seed: 8);
        float[] expected = new float[tokens * rows];
        fixed (byte* data = bytes)
            MatMul.Multiply(WeightMatrix.Contiguous(type, data, rows, cols), x, tokens, expected, bias);

        using var matrix = GpuMatrix.Upload(device, type, bytes, rows, cols);
        using var xs = device.Upload<float>(x);
        using var ys = device.Allocate<float>(tokens * rows);
        using var b = device.Upload<float>(bias);
        device.Kernels.MatMul(matrix, xs.View, tokens, ys.View, b.View);
        var actual = Check.Download(device, ys.View, tokens * rows);

        // Same products in another summation order: float32 rounding of sums of up to 512 terms.
        Check.Close(expected, actual, absolute: 2e-4 * Math.Sqrt(cols), relative: 1e-4);
    }

    [Fact]
    public void AccumulatesIntoTheOutputForTheFusedResidualAdd()
    {
        const int rows = 4, cols = 64;
        byte[] bytes = WeightBytes.Random(TensorType.F16, rows, cols, seed: 3);
        float[] x = Check.Random(cols, seed: 4), residual = Check.Random(rows, seed: 5);
        float[] expected = new float[rows];
        fixed (byte* data = bytes)
            MatMul.MatVec(WeightMatrix.Contiguous(TensorType.F16, data, rows, cols), x, expected);
        for (int i = 0; i < rows; i++) expected[i] += residual[i];

        using var matrix = GpuMatrix.Upload(_device, TensorType.F16, bytes, rows, cols);
        using var xs = _device.Upload<float>(x);
        using var ys = _device.Upload<float>(residual);
        _device.Kernels.MatMul(matrix, xs.View, 1, ys.View, default, accumulate: true);
        Check.Close(expected, Check.Download(_device, ys.View, rows), absolute: 1e-4);
    }

    /// <summary>
    /// Embedding rows against the CPU dequantizer: bit for bit where the GPU makes the same products and sums in the
    /// same order (d·q + m, d·sc·q − dmin·m; Q4_0, Q5_0 and Q3_K hand over centred levels); Q6_K's row format
    /// multiplies d·sc and q in another order, so it is held to float rounding.
    /// </summary>
    [Theory]
    [InlineData(TensorType.BF16, true)]
    [InlineData(TensorType.Q4_0, true)]
    [InlineData(TensorType.Q4_1, true)]
    [InlineData(TensorType.Q5_0, true)]
    [InlineData(TensorType.Q5_1, true)]
    [InlineData(TensorType.Q5_K, true)]
    [InlineData(TensorType.Q2_K, true)]
    [InlineData(TensorType.Q3_K, true)]
    [InlineData(TensorType.Q6_K, false)]
    public void GatherReturnsTheCpuDequantizersRows(TensorType type, bool bitExact)
    {
        const int rows = 6, cols = 512;
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed: 13);
        int[] ids = [5, 1, 5, 0, 3];
        long rowBytes = type.RowBytes(cols)!.Value;
        var expected = new float[ids.Length * cols];
        for (int i = 0; i < ids.Length; i++)
            Dequantizer.RowToFloat(type, bytes.AsSpan((int)(ids[i] * rowBytes), (int)rowBytes), expected.AsSpan(i * cols, cols));

        using var table = GpuMatrix.Upload(_device, type, bytes, rows, cols);
        using var idBuffer = _device.Upload<int>(ids);
        using var output = _device.Allocate<float>(expected.Length);
        _device.Kernels.Gather(table, idBuffer.View, ids.Length, output.View);
        var actual = Check.Download(_device, output.View, expected.Length);
        Assert.Contains(expected, v => v != 0f); // a real table, not zeros on both sides
        if (!bitExact)
        {
            Check.Close(expected, actual, absolute: 1e-6, relative: 1e-6);
            return;
        }
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"value {i}: CPU {expected[i]:R}, GPU {actual[i]:R}");
    }
}
