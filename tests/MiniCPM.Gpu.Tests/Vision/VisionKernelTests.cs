using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Gpu.Tests.Kernels;

namespace MiniCPM.Gpu.Tests.Vision;

/// <summary>
/// The vision tower's own kernels on the simulator: dense attention against the CPU backend's PrefixAttention (no
/// mask) and a naive double-precision softmax, im2col against the pixel indexing written out, and the grid position
/// add against the engine's sin-cos table. Shapes are odd on purpose: key counts that are no multiple of the 32-key
/// tile, query counts that leave a partial 16-query tile, head dimensions that are no power of two.
/// </summary>
[Collection(Simulator.Name)]
public sealed class VisionKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    public static TheoryData<int, int, int, int, DenseAttentionPath> DenseCases()
    {
        var cases = new TheoryData<int, int, int, int, DenseAttentionPath>();
        foreach (var path in DenseAttentionPaths.All)
        {
            cases.Add(13, 45, 2, 72, path);  // SigLIP-like head dim; 2 key tiles, the second partial; a partial query tile
            cases.Add(5, 33, 1, 128, path);  // resampler-like head dim, one query tile mostly empty
            cases.Add(17, 17, 1, 16, path);  // self-attention over two query tiles, tiny heads (tiny-v's 64 / 4)
            cases.Add(3, 1, 2, 40, path);    // a single key: every weight is 1
            // Several query and key tiles in every head: the products' batch offsets past the first tile. On the
            // simulator, on the CUDA-core products only: the tensor-core kernel shares the offsets (TileLoads, the same
            // output index), and its emulation, like the fused kernel, is slow there at this size. On a GPU, every path.
            if (path == DenseAttentionPath.Products || Simulator.DeviceName != "cpu") cases.Add(70, 100, 3, 72, path);
        }
        return cases;
    }

    /// <summary>Every path of <see cref="GpuKernels.DenseAttention"/> (<see cref="DenseAttentionPath"/>).</summary>
    [Theory]
    [MemberData(nameof(DenseCases))]
    public void DenseAttentionMatchesTheCpuAttention(int queries, int keys, int heads, int headDim, DenseAttentionPath path)
    {
        int width = heads * headDim;
        // q, k and v as parts of one fused row per position (stride 3·width), as the SigLIP layer lays them out,
        // except that the queries get their own, wider rows (stride width + 8) to catch a stride mix-up.
        int fused = 3 * width, queryStride = width + 8;
        float[] q = Check.Random(queries * queryStride, 1), kv = Check.Random(keys * fused, 2, 2f);
        float scale = 1f / MathF.Sqrt(headDim);

        float[] qDense = Gather(q, queries, queryStride, 0, width);
        float[] kDense = Gather(kv, keys, fused, width, width), vDense = Gather(kv, keys, fused, 2 * width, width);
        var expected = new float[queries * width];
        PrefixAttention.Compute(qDense, kDense, vDense, expected, queries, keys, heads, heads, headDim, scale);
        AssertNaiveAgrees(qDense, kDense, vDense, expected, queries, keys, heads, headDim, scale);

        using var qBuffer = _device.Upload<float>(q);
        using var kvBuffer = _device.Upload<float>(kv);
        int outputStride = width + 4;
        using var output = _device.Upload<float>(Enumerable.Repeat(float.NaN, queries * outputStride).ToArray());
        DenseAttentionPaths.With(_device, path, () => _device.Kernels.DenseAttention(new DenseAttentionArgs
        {
            Query = qBuffer.View, Key = ((ArrayView<float>)kvBuffer.View).SubView(width), Value = ((ArrayView<float>)kvBuffer.View).SubView(2 * width), Output = output.View,
            QueryStride = queryStride, KeyStride = fused, ValueStride = fused, OutputStride = outputStride,
            Queries = queries, Keys = keys, Heads = heads, HeadDim = headDim, Scale = scale,
        }));
        var actual = Check.Download(_device, output.View, queries * outputStride);
        Check.Close(expected, Gather(actual, queries, outputStride, 0, width), 2e-6, 1e-5);
        for (int r = 0; r < queries; r++)
            for (int i = width; i < outputStride; i++)
                Assert.True(float.IsNaN(actual[r * outputStride + i]), $"row {r} column {i} past the heads was written");
    }

    [Fact]
    public void DenseAttentionRefusesHeadsWiderThan128()
    {
        var args = new DenseAttentionArgs { Queries = 1, Keys = 1, Heads = 1, HeadDim = 136 };
        Assert.Throws<NotSupportedException>(() => _device.Kernels.DenseAttention(args));
    }

    [Fact]
    public void PatchUnfoldLaysEachPatchOutInChannelRowColumnOrder()
    {
        const int p = 14, height = 28, width = 42, stride = 608;
        int rows = height / p, columns = width / p, patches = rows * columns;
        var pixels = new float[3 * height * width];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = i + 1; // every pixel distinct and non-zero
        using var input = _device.Upload<float>(pixels);
        using var unfolded = _device.Upload<float>(Enumerable.Repeat(float.NaN, patches * stride).ToArray());
        _device.Kernels.PatchUnfold(input.View, height, width, p, unfolded.View, stride);
        var actual = Check.Download(_device, unfolded.View, patches * stride);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int n = r * columns + c, column = 0;
                for (int channel = 0; channel < 3; channel++)
                    for (int ky = 0; ky < p; ky++)
                        for (int kx = 0; kx < p; kx++, column++)
                            Assert.Equal(pixels[(channel * height + r * p + ky) * width + c * p + kx], actual[n * stride + column]);
                for (; column < stride; column++) Assert.Equal(0f, actual[n * stride + column]);
            }
    }

    [Theory]
    [InlineData(3, 5, 256)]
    [InlineData(4, 1, 128)]
    public void GridPositionsAddTheSinCosTable(int rows, int columns, int width)
    {
        int cells = rows * columns;
        float[] x = Check.Random(cells * width, 9, 3f);
        var expected = SinCosPositionTable.Grid(rows, columns, width);
        for (int i = 0; i < expected.Length; i++) expected[i] += x[i];

        // The one-axis rows: the first half of cell (0, p) is position p's embedding.
        int half = width / 2, positions = Math.Max(rows, columns);
        var axis = new float[positions * half];
        var cell = new float[width];
        for (int p = 0; p < positions; p++)
        {
            SinCosPositionTable.Cell(0, p, cell);
            cell.AsSpan(0, half).CopyTo(axis.AsSpan(p * half));
        }
        using var xBuffer = _device.Upload<float>(x);
        using var axisBuffer = _device.Upload<float>(axis);
        using var y = _device.Allocate<float>(cells * width);
        _device.Kernels.AddGridPositions(xBuffer.View, rows, columns, axisBuffer.View, width, y.View);
        Assert.Equal(expected, Check.Download(_device, y.View, cells * width)); // same float adds of the same values
    }

    private static float[] Gather(float[] source, int rows, int stride, int offset, int width)
    {
        var result = new float[rows * width];
        for (int r = 0; r < rows; r++) Array.Copy(source, r * stride + offset, result, r * width, width);
        return result;
    }

    /// <summary>The CPU reference itself against softmax written out in double, so both are checked.</summary>
    private static void AssertNaiveAgrees(float[] q, float[] k, float[] v, float[] cpu, int queries, int keys, int heads, int headDim, float scale)
    {
        int width = heads * headDim;
        var naive = new float[cpu.Length];
        for (int r = 0; r < queries; r++)
            for (int h = 0; h < heads; h++)
            {
                var scores = new double[keys];
                for (int j = 0; j < keys; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < headDim; e++) dot += (double)q[r * width + h * headDim + e] * k[j * width + h * headDim + e];
                    scores[j] = dot * scale;
                }
                double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                for (int e = 0; e < headDim; e++)
                {
                    double acc = 0;
                    for (int j = 0; j < keys; j++) acc += Math.Exp(scores[j] - max) / sum * v[j * width + h * headDim + e];
                    naive[r * width + h * headDim + e] = (float)acc;
                }
            }
        Check.Close(naive, cpu, 2e-6, 1e-5);
    }
}
