using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The int8 product with the next RMSNorm as its tail (<see cref="GpuKernels.MatMulInt8ThenRmsNorm"/>) against the
/// plain product adding into the residual followed by <see cref="GpuKernels.RmsNormInt8"/>: the residual, the normed
/// rows and every int8 block (quants, scales, Σq, min terms) must match bit for bit — same dot products, same norm
/// code, the sum of squares added in the norm kernel's order by the matvec's half-size group. Several tokens, short
/// rows (one warp per row pair) and long ones (four), a row split into two dtype runs (Q4_K_M's layout: one tail over
/// both launches), and every case run twice in a row, so a counter left non-zero would leave the second norm unwritten.
/// The simulator runs groups with coherent memory: a missing fence cannot show here, only on CUDA.
/// </summary>
[Collection(Simulator.Name)]
public sealed class RmsNormTailTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    /// <summary>The first run's type and rows, the second run's (none: one matrix), input columns, tokens.</summary>
    public static TheoryData<TensorType, int, TensorType, int, int, int> Cases => new()
    {
        { TensorType.Q4_0, 96, TensorType.Q4_0, 0, 64, 3 }, // short rows: 12 groups per token
        { TensorType.Q8_0, 32, TensorType.Q8_0, 0, 8192, 2 }, // long rows: 2 rows per group, 16 groups per token
        { TensorType.Q4_K, 64, TensorType.Q6_K, 32, 256, 2 }, // two launches write each row; the norm after both
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EqualsTheProductThenRmsNormInt8BitForBit(TensorType firstType, int firstRows, TensorType secondType,
        int secondRows, int cols, int tokens)
    {
        int width = firstRows + secondRows;
        (TensorType Type, int Rows, int Column)[] parts = secondRows == 0
            ? [(firstType, firstRows, 0)]
            : [(firstType, firstRows, 0), (secondType, secondRows, firstRows)];
        var matrices = parts.Select((p, i) => GpuMatrix.Upload(_device, p.Type, WeightBytes.Random(p.Type, p.Rows, cols, seed: 7 * i + cols), p.Rows, cols)).ToArray();
        float[] x = Check.Random(tokens * cols, seed: 11, scale: 2);
        float[] h = Check.Random(tokens * width, seed: 12, scale: 3);
        float[] weight = Check.Random(width, seed: 13);
        float[] stale = Check.Random(tokens * width, seed: 14);

        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, tokens, cols);
        using var ws = _device.Upload<float>(weight);
        using var plainH = _device.Upload<float>(h);
        using var plainNormed = _device.Upload<float>(stale);
        using var plainBlocks = new Int8Buffer(_device, tokens, width);
        using var tailH = _device.Upload<float>(h);
        using var tailNormed = _device.Upload<float>(stale);
        using var tailBlocks = new Int8Buffer(_device, tokens, width);
        using var counters = new TokenCounters(_device, tokens + 1);
        var kernels = _device.Kernels;
        kernels.QuantizeInt8(xs.View, tokens, cols, q.For(cols));
        var tail = GpuKernels.RmsNormTail(tailH.View, ws.View, 1e-6f, tailNormed.View, tailBlocks.For(width), counters, matrices);

        for (int run = 0; run < 2; run++)
        {
            for (int i = 0; i < parts.Length; i++)
                kernels.MatMulInt8(matrices[i], q.For(cols), tokens, ((ArrayView<float>)plainH.View).SubView(parts[i].Column), accumulate: true, yStride: width);
            kernels.RmsNormInt8(plainH.View, tokens, ws.View, 1e-6f, plainNormed.View, plainBlocks.For(width));

            long before = kernels.Launches;
            for (int i = 0; i < parts.Length; i++)
                kernels.MatMulInt8ThenRmsNorm(matrices[i], q.For(cols), tokens, ((ArrayView<float>)tailH.View).SubView(parts[i].Column), tail,
                    accumulate: true, yStride: width);
            Assert.Equal(parts.Length, kernels.Launches - before);

            float[] residual = Check.Download(_device, tailH.View, tokens * width);
            FusedInt8ProducerTests.AssertSameBits(Check.Download(_device, plainH.View, tokens * width), residual);
            FusedInt8ProducerTests.AssertSameBits(Check.Download(_device, plainNormed.View, tokens * width), Check.Download(_device, tailNormed.View, tokens * width));
            FusedInt8ProducerTests.AssertSameBlocks(plainBlocks.For(width), tailBlocks.For(width), tokens * width / 32);
            Assert.All(Counts(counters), c => Assert.Equal(0, c)); // put back for the next launch
            Assert.NotEqual(h, residual); // not vacuous: the product added into the residual
        }
        foreach (var m in matrices) m.Dispose();
    }

    /// <summary>The norm the tail runs, by 128 threads, against the norm kernel's 256: rows held in registers (≤ 4096
    /// columns) and wider ones (a strided run of scalars per thread), bit for bit.</summary>
    [Theory]
    [InlineData(2, 3584)]
    [InlineData(1, 8256)]
    public void TheRowNormOfHalfAGroupEqualsTheNormKernel(int rows, int cols)
    {
        float[] x = Check.Random(rows * cols, 21, scale: 3), w = Check.Random(cols, 22);
        using var xs = _device.Upload<float>(x);
        using var ws = _device.Upload<float>(w);
        using var expectedY = _device.Allocate<float>(rows * cols);
        using var actualY = _device.Allocate<float>(rows * cols);
        using var expectedQ = new Int8Buffer(_device, rows, cols);
        using var actualQ = new Int8Buffer(_device, rows, cols);
        _device.Kernels.RmsNormInt8(xs.View, rows, ws.View, 1e-6f, expectedY.View, expectedQ.For(cols));
        var halfGroup = _device.Accelerator.LoadKernel<RmsNormInt8Args>(RowNormByHalfAGroup);
        halfGroup(_device.Accelerator.DefaultStream, new KernelConfig(rows, MatMulKernel.GroupSize),
            new RmsNormInt8Args { X = xs.View, Y = actualY.View, Weight = ws.View, Q = actualQ.For(cols), Cols = cols, Eps = 1e-6f });
        _device.Accelerator.Synchronize();

        FusedInt8ProducerTests.AssertSameBits(Check.Download(_device, expectedY.View, rows * cols), Check.Download(_device, actualY.View, rows * cols));
        FusedInt8ProducerTests.AssertSameBlocks(expectedQ.For(cols), actualQ.For(cols), rows * cols / 32);
    }

    private static void RowNormByHalfAGroup(RmsNormInt8Args a) => NormKernels.RmsNormInt8Row(a, Grid.IdxX, MatMulKernel.GroupSize);

    /// <summary>
    /// The sum of squares behind the scale, by 256 threads and by 128, against the norm kernel's order written out on
    /// the host in float (the simulator adds as .NET does): each of 256 threads sums its four quads (rows that fit
    /// registers) or its strided scalars, then the warps' butterflies, then the eight warp sums in order — bit for bit.
    /// The normed values above barely show the order (an ulp of the sum rarely moves 1/√ of it), so the sums are
    /// compared themselves. The 128-thread sums must equal the 256-thread ones on every device; the host's order only on
    /// the simulator, which adds as .NET does: on an H200 both kernels' sums missed the host's float additions by an ulp
    /// (two of the 3584- and 8256-wide rows) while agreeing with each other — what ptxas contracting x·x + s into FMAs
    /// does.
    /// </summary>
    [Theory]
    [InlineData(3584)]
    [InlineData(8256)]
    public void HalfAGroupAddsTheSquaresInTheNormKernelsOrder(int cols)
    {
        // Rounding in one thread's share vanishes in a sum of 256 such shares, so each row keeps only a few threads'
        // values (zeros add exactly): single threads of the first half and of the second (the 128-thread group's
        // second turn), threads in different warps, lanes of one warp (the butterfly).
        int[][] live = [[5], [133], [40], [250], [64], [191], [1], [127], [7, 100, 200], [129, 130, 147], [3, 35, 160, 255]];
        int rows = live.Length;
        bool quads = cols / 4 <= NormKernels.RegisterQuads;
        float[] x = Check.Random(rows * cols, 23, scale: 3);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < cols; i++)
                if (!live[r].Contains((quads ? i / 4 : i) % NormKernels.GroupSize)) x[r * cols + i] = 0;
        using var xs = _device.Upload<float>(x);
        using var full = _device.Allocate<float>(rows);
        using var half = _device.Allocate<float>(rows);
        var sums = _device.Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int>(SumsOfSquares);
        sums(_device.Accelerator.DefaultStream, new KernelConfig(rows, NormKernels.GroupSize), xs.View, full.View, cols);
        sums(_device.Accelerator.DefaultStream, new KernelConfig(rows, MatMulKernel.GroupSize), xs.View, half.View, cols);
        _device.Accelerator.Synchronize();
        float[] expected = [.. Enumerable.Range(0, rows).Select(r => KernelOrderSum(x.AsSpan(r * cols, cols)))];
        float[] byFull = Check.Download(_device, full.View, rows), byHalf = Check.Download(_device, half.View, rows);
        FusedInt8ProducerTests.AssertSameBits(byFull, byHalf);
        if (_device.IsSimulator) FusedInt8ProducerTests.AssertSameBits(expected, byFull);
    }

    /// <summary>Σx² in the order of <see cref="NormKernels"/>' 256-thread groups.</summary>
    private static float KernelOrderSum(ReadOnlySpan<float> x)
    {
        const int threads = NormKernels.GroupSize;
        bool quads = x.Length % 4 == 0 && x.Length / 4 <= 4 * threads;
        var lanes = new float[threads];
        for (int t = 0; t < threads; t++)
        {
            float sum = 0;
            if (quads)
                for (int k = 0; k < 4; k++)
                {
                    int q = t + k * threads;
                    float s = 0;
                    if (q < x.Length / 4) s = x[4 * q] * x[4 * q] + x[4 * q + 1] * x[4 * q + 1] + x[4 * q + 2] * x[4 * q + 2] + x[4 * q + 3] * x[4 * q + 3];
                    sum = k == 0 ? s : sum + s;
                }
            else
                for (int i = t; i < x.Length; i += threads) sum += x[i] * x[i];
            lanes[t] = sum;
        }
        float total = 0;
        for (int warp = 0; warp < threads / 32; warp++)
        {
            var v = lanes.AsSpan(warp * 32, 32).ToArray();
            for (int offset = 16; offset > 0; offset >>= 1)
                v = [.. v.Select((value, lane) => value + v[lane ^ offset])];
            total += v[0];
        }
        return total;
    }

    private static void SumsOfSquares(ArrayView<float> x, ArrayView<float> sums, int cols)
    {
        float sum = NormKernels.SumOfSquares(x, (long)Grid.IdxX * cols, cols, Group.DimX);
        if (Group.IdxX == 0) sums[Grid.IdxX] = sum;
    }

    [Fact]
    public void RefusesATailThatDoesNotFitTheProduct()
    {
        using var matrix = GpuMatrix.Upload(_device, TensorType.Q8_0, WeightBytes.Random(TensorType.Q8_0, 64, 32, seed: 1), 64, 32);
        using var q = new Int8Buffer(_device, 2, 64);
        using var h = _device.Allocate<float>(128);
        using var w = _device.Allocate<float>(64);
        using var counters = new TokenCounters(_device, 1);
        var kernels = _device.Kernels;
        long before = kernels.Launches;
        // The parts must write the whole row the norm reads; the product's rows must be the norm's.
        Assert.Throws<ArgumentException>(() => GpuKernels.RmsNormTail(h.View, w.View, 1e-6f, h.View, q.For(64), counters, [matrix, matrix]));
        var tail = GpuKernels.RmsNormTail(h.View, w.View, 1e-6f, h.View, q.For(64), counters, [matrix]);
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8ThenRmsNorm(matrix, q.For(32), 1, h.View, tail, yStride: 128));
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8ThenRmsNorm(matrix, q.For(32), 2, h.View, tail)); // one counter
        Assert.Equal(before, kernels.Launches);
    }

    private int[] Counts(TokenCounters counters)
    {
        var values = new int[counters.Tokens];
        counters.View.CopyToCPU(values.AsSpan());
        return values;
    }
}
