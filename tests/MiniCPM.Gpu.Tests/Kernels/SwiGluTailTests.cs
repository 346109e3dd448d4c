using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The gate|up int8 product with SiLU·mul(+int8) as its tail (<see cref="GpuKernels.MatMulInt8ThenSwiGlu"/>) against
/// the plain product followed by <see cref="GpuKernels.SiluMulFusedInt8"/>: the product, the SiLU·mul floats and every
/// int8 block must match bit for bit (the same dot products, the same SiLU·mul and quantizer code). Short rows (one
/// warp per row pair: 8 rows per group, 8 groups per block) and long ones (four warps: 2 rows per group, 32 groups
/// per block), several tokens, each case twice in a row so a counter left non-zero would leave blocks unwritten the
/// second time. The simulator runs groups with coherent memory: a missing fence cannot show here, only on CUDA.
/// </summary>
[Collection(Simulator.Name)]
public sealed class SwiGluTailTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(TensorType.Q4_0, 96, 64, 3)]
    [InlineData(TensorType.Q8_0, 64, 8192, 2)]
    [InlineData(TensorType.Q4_K, 64, 256, 1)]
    public void EqualsTheProductThenSiluMulInt8BitForBit(TensorType type, int width, int cols, int tokens)
    {
        using var gateUp = GpuMatrix.Upload(_device, type, WeightBytes.Random(type, 2 * width, cols, seed: width + cols), 2 * width, cols);
        float[] x = Check.Random(tokens * cols, seed: 41, scale: 2);
        float[] stale = Check.Random(tokens * width, seed: 42);
        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, tokens, cols);
        using var plainProduct = _device.Allocate<float>(tokens * 2 * width);
        using var plainY = _device.Upload<float>(stale);
        using var plainBlocks = new Int8Buffer(_device, tokens, width);
        using var tailProduct = _device.Allocate<float>(tokens * 2 * width);
        using var tailY = _device.Upload<float>(stale);
        using var tailBlocks = new Int8Buffer(_device, tokens, width);
        using var counters = new TokenCounters(_device, tokens, perToken: width / 32);
        var kernels = _device.Kernels;
        kernels.QuantizeInt8(xs.View, tokens, cols, q.For(cols));
        var tail = GpuKernels.SwiGluTail(gateUp, tailProduct.View, tailY.View, tailBlocks.For(width), counters);

        for (int run = 0; run < 2; run++)
        {
            kernels.MatMulInt8(gateUp, q.For(cols), tokens, plainProduct.View);
            kernels.SiluMulFusedInt8(plainProduct.View, plainY.View, tokens, width, plainBlocks.For(width));

            long before = kernels.Launches;
            kernels.MatMulInt8ThenSwiGlu(gateUp, q.For(cols), tokens, tailProduct.View, tail);
            Assert.Equal(1, kernels.Launches - before);

            FusedInt8ProducerTests.AssertSameBits(Check.Download(_device, plainProduct.View, tokens * 2 * width),
                Check.Download(_device, tailProduct.View, tokens * 2 * width));
            float[] y = Check.Download(_device, tailY.View, tokens * width);
            FusedInt8ProducerTests.AssertSameBits(Check.Download(_device, plainY.View, tokens * width), y);
            FusedInt8ProducerTests.AssertSameBlocks(plainBlocks.For(width), tailBlocks.For(width), tokens * width / 32);
            var counts = new int[counters.View.Length];
            counters.View.CopyToCPU(counts.AsSpan());
            Assert.All(counts, c => Assert.Equal(0, c)); // put back for the next launch
            Assert.NotEqual(stale, y); // not vacuous: the tail wrote every value
        }
    }

    [Fact]
    public void ATailForAnotherShapeIsRefused()
    {
        using var gateUp = GpuMatrix.Upload(_device, TensorType.Q4_0, WeightBytes.Random(TensorType.Q4_0, 128, 64, seed: 3), 128, 64);
        using var wide = GpuMatrix.Upload(_device, TensorType.Q4_0, WeightBytes.Random(TensorType.Q4_0, 128, 8192, seed: 4), 128, 8192);
        using var product = _device.Allocate<float>(128);
        using var y = _device.Allocate<float>(64);
        using var blocks = new Int8Buffer(_device, 1, 8192);
        using var counters = new TokenCounters(_device, 1, perToken: 2);
        var tail = GpuKernels.SwiGluTail(gateUp, product.View, y.View, blocks.For(64), counters);
        // Made for one warp per row pair (64 columns); 8192 columns take four.
        Assert.Throws<ArgumentException>(() => _device.Kernels.MatMulInt8ThenSwiGlu(wide, blocks.For(8192), 1, product.View, tail));
        Assert.Throws<ArgumentException>(() => _device.Kernels.MatMulInt8ThenSwiGlu(gateUp, blocks.For(64), 2, product.View, tail)); // 2 tokens, 1 token's counters
        using var odd = GpuMatrix.Upload(_device, TensorType.Q4_0, WeightBytes.Random(TensorType.Q4_0, 96, 64, seed: 5), 96, 64);
        Assert.Throws<ArgumentException>(() => GpuKernels.SwiGluTail(odd, product.View, y.View, blocks.For(64), counters)); // gate of 48: not whole blocks
    }
}
