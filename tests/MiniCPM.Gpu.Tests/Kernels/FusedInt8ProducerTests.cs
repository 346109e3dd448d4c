using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The fused producers (RMSNorm and SiLU·mul that also write the next projection's int8 blocks) against the unfused
/// pair they replace (the float kernel, then the standalone quantize kernel): the floats and every quant, scale, Σq
/// and s must be bit-for-bit the same, since the decoder swaps one for the other. And the butterfly warp reductions
/// against the plain one they replace, also bit for bit.
/// </summary>
[Collection(Simulator.Name)]
public sealed class FusedInt8ProducerTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(3, 320)]
    [InlineData(1, 8256)] // 2064 quads: more than the group's 256 threads, the last step partly idle
    public void RmsNormInt8EqualsRmsNormThenQuantize(int rows, int cols)
    {
        float[] x = Check.Random(rows * cols, 31, scale: 3), w = Check.Random(cols, 32);
        for (int i = 0; i < 32; i++) x[32 + i] = 0; // an all-zero block: scale 0, quants 0
        if (rows > 1)
            for (int i = 0; i < cols; i++) x[cols + i] *= 1e-30f; // a tiny row: normalised, so ordinary quants again
        w[70] = 0;

        using var xs = _device.Upload<float>(x);
        using var ws = _device.Upload<float>(w);
        using var expectedY = _device.Allocate<float>(rows * cols);
        using var actualY = _device.Allocate<float>(rows * cols);
        using var expectedQ = new Int8Buffer(_device, rows, cols);
        using var actualQ = new Int8Buffer(_device, rows, cols);
        _device.Kernels.RmsNorm(xs.View, rows, ws.View, 1e-6f, expectedY.View);
        _device.Kernels.QuantizeInt8(expectedY.View, rows, cols, expectedQ.For(cols));
        _device.Kernels.RmsNormInt8(xs.View, rows, ws.View, 1e-6f, actualY.View, actualQ.For(cols));

        AssertSameBits(Check.Download(_device, expectedY.View, rows * cols), Check.Download(_device, actualY.View, rows * cols));
        AssertSameBlocks(expectedQ.For(cols), actualQ.For(cols), rows * cols / 32);
    }

    [Fact]
    public void RmsNormInt8WritesAtATokenOffset()
    {
        // The lm_head's input is normalised request by request into consecutive rows: FromToken(t) places the blocks.
        const int rows = 3, cols = 96;
        float[] x = Check.Random(rows * cols, 33, scale: 2), w = Check.Random(cols, 34);
        using var xs = _device.Upload<float>(x);
        using var ws = _device.Upload<float>(w);
        using var y = _device.Allocate<float>(rows * cols);
        using var whole = new Int8Buffer(_device, rows, cols);
        using var pieces = new Int8Buffer(_device, rows, cols);
        _device.Kernels.RmsNormInt8(xs.View, rows, ws.View, 1e-6f, y.View, whole.For(cols));
        _device.Kernels.RmsNormInt8(xs.View, 1, ws.View, 1e-6f, y.View, pieces.For(cols));
        _device.Kernels.RmsNormInt8(((ArrayView<float>)xs.View).SubView(cols), 2, ws.View, 1e-6f, ((ArrayView<float>)y.View).SubView(cols),
            pieces.For(cols).FromToken(1));
        AssertSameBlocks(whole.For(cols), pieces.For(cols), rows * cols / 32);
    }

    [Fact]
    public void SiluMulFusedInt8EqualsSiluMulThenQuantize()
    {
        const int tokens = 3, width = 96;
        float[] gateUp = Check.Random(tokens * 2 * width, 35, scale: 6);
        for (int i = 0; i < 32; i++) gateUp[2 * width + width + 32 + i] = 0; // token 1, block 1: up all zero
        using var gu = _device.Upload<float>(gateUp);
        using var expectedY = _device.Allocate<float>(tokens * width);
        using var actualY = _device.Allocate<float>(tokens * width);
        using var expectedQ = new Int8Buffer(_device, tokens, width);
        using var actualQ = new Int8Buffer(_device, tokens, width);
        _device.Kernels.SiluMulFused(gu.View, expectedY.View, tokens, width);
        _device.Kernels.QuantizeInt8(expectedY.View, tokens, width, expectedQ.For(width));
        _device.Kernels.SiluMulFusedInt8(gu.View, actualY.View, tokens, width, actualQ.For(width));

        AssertSameBits(Check.Download(_device, expectedY.View, tokens * width), Check.Download(_device, actualY.View, tokens * width));
        AssertSameBlocks(expectedQ.For(width), actualQ.For(width), tokens * width / 32);
    }

    [Fact]
    public void TheSharedQuantizerMakesGgmlQ8_0Blocks()
    {
        // The rule every producer shares, against plain host math: d = f16(amax/127) (round to nearest even, subnormal
        // halves included), q = round-half-even(x·127/amax), Σq, and Q8_1's s = f16(amax/127·Σq) as the CPU's int8
        // path makes it (ggml's quantize_row_q8_1: from the unrounded d, +∞ past the f16 range). Blocks: random;
        // exact ties (amax 127 makes x·id = x);
        // f16-subnormal scales; all zeros; large values whose s overflows f16.
        const int blocks = 5;
        float[] x = Check.Random(blocks * 32, 37, scale: 5);
        float[] ties = [127f, 2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f];
        for (int i = 0; i < 32; i++) x[32 + i] = i < ties.Length ? ties[i] : i - 16;
        for (int i = 0; i < 32; i++) x[64 + i] *= 1e-6f;
        for (int i = 0; i < 32; i++) x[96 + i] = 0;
        for (int i = 0; i < 32; i++) x[128 + i] = 3000f + i;

        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, 1, blocks * 32);
        _device.Kernels.QuantizeInt8(xs.View, 1, blocks * 32, q.For(blocks * 32));
        var quants = Download(q.For(blocks * 32).Quants, 2 * blocks);
        var scales = Download(q.For(blocks * 32).Scales, blocks);
        var sums = Download(q.For(blocks * 32).Sums, blocks);
        var minTerms = Download(q.For(blocks * 32).MinTerms, blocks);

        for (int b = 0; b < blocks; b++)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = MathF.Max(amax, MathF.Abs(x[b * 32 + i]));
            float id = amax != 0 ? 127f / amax : 0f;
            int sum = 0;
            for (int i = 0; i < 32; i++)
            {
                int expected = (int)MathF.Round(x[b * 32 + i] * id, MidpointRounding.ToEven);
                uint word = (i & 16) == 0 ? Word(quants[2 * b], i & 15) : Word(quants[2 * b + 1], i & 15);
                Assert.Equal(expected, (sbyte)(byte)(word >> (8 * (i & 3))));
                sum += expected;
            }
            Assert.Equal(BitConverter.SingleToInt32Bits((float)(System.Half)(amax / 127f)), BitConverter.SingleToInt32Bits(scales[b]));
            Assert.Equal(sum, sums[b]);
            Assert.Equal(BitConverter.SingleToInt32Bits((float)(System.Half)(amax / 127f * sum)), BitConverter.SingleToInt32Bits(minTerms[b]));
        }
        Assert.True(minTerms[0] != 0 && float.IsFinite(minTerms[0]));
        Assert.Equal(float.PositiveInfinity, minTerms[4]);
        Assert.Equal(2, (sbyte)(byte)(quants[2].X >> 8)); // 2.5 → 2 (ties to even, not away from zero)
        Assert.True(scales[2] is > 0 and < 6.103515625e-5f); // a subnormal half

        static uint Word(UInt4 v, int i) => (i >> 2) switch { 0 => v.X, 1 => v.Y, 2 => v.Z, _ => v.W };
    }

    [Fact]
    public void ButterflySumsEqualThePlainWarpSum()
    {
        // Values over many magnitudes, so any change in the addition order would show in the low bits.
        var random = new Random(36);
        var values = new float[8 * 32];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-4, 5)));
        using var input = _device.Upload<float>(values);
        using var output = _device.Allocate<float>(3 * 32 + 8);
        var kernel = _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(SumsKernel);
        kernel(new KernelConfig(1, 32), input.View, output.View);
        _device.Accelerator.Synchronize();
        var result = Check.Download(_device, output.View, 3 * 32 + 8);

        var plain = result.AsSpan(96, 8).ToArray();
        for (int lane = 0; lane < 32; lane++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(plain[(lane >> 2) & 7]), BitConverter.SingleToInt32Bits(result[lane]));
            Assert.Equal(BitConverter.SingleToInt32Bits(plain[lane >> 4]), BitConverter.SingleToInt32Bits(result[32 + lane]));
        }
        // And the plain sums are the sums (to float rounding): the test is not comparing garbage with garbage.
        for (int v = 0; v < 8; v++)
        {
            double exact = 0;
            for (int lane = 0; lane < 32; lane++) exact += values[v * 32 + lane];
            double magnitude = values.Skip(v * 32).Take(32).Sum(f => Math.Abs((double)f));
            Assert.True(Math.Abs(plain[v] - exact) <= 1e-6 * magnitude, $"sum {v}: {plain[v]} vs {exact}");
        }
    }

    /// <summary>One warp: lane i holds values[v·32 + i] for v = 0..7; writes Sum8, Sum2(v0, v1) and the eight plain sums.</summary>
    private static void SumsKernel(ArrayView<float> values, ArrayView<float> output)
    {
        int lane = Group.IdxX;
        float v0 = values[lane], v1 = values[32 + lane], v2 = values[64 + lane], v3 = values[96 + lane];
        float v4 = values[128 + lane], v5 = values[160 + lane], v6 = values[192 + lane], v7 = values[224 + lane];
        output[lane] = WarpMath.Sum8(v0, v1, v2, v3, v4, v5, v6, v7);
        output[32 + lane] = WarpMath.Sum2(v0, v1);
        float p0 = WarpMath.Sum(v0), p1 = WarpMath.Sum(v1), p2 = WarpMath.Sum(v2), p3 = WarpMath.Sum(v3);
        float p4 = WarpMath.Sum(v4), p5 = WarpMath.Sum(v5), p6 = WarpMath.Sum(v6), p7 = WarpMath.Sum(v7);
        if (lane == 0)
        {
            output[96] = p0; output[97] = p1; output[98] = p2; output[99] = p3;
            output[100] = p4; output[101] = p5; output[102] = p6; output[103] = p7;
        }
    }

    internal static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"index {i}: {actual[i]:G9} vs {expected[i]:G9}");
    }

    internal static void AssertSameBlocks(Int8Blocks expected, Int8Blocks actual, int blocks)
    {
        Assert.Equal(Download(expected.Quants, 2 * blocks), Download(actual.Quants, 2 * blocks));
        Assert.Equal(Download(expected.Scales, blocks).Select(BitConverter.SingleToInt32Bits), Download(actual.Scales, blocks).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(Download(expected.Sums, blocks), Download(actual.Sums, blocks));
        Assert.Equal(Download(expected.MinTerms, blocks).Select(BitConverter.SingleToInt32Bits), Download(actual.MinTerms, blocks).Select(BitConverter.SingleToInt32Bits));
        // Not vacuous: some quants are non-zero.
        Assert.Contains(Download(actual.Quants, 2 * blocks), q => q.X != 0);
    }

    private static T[] Download<T>(ArrayView<T> view, int count) where T : unmanaged
    {
        var values = new T[count];
        view.SubView(0, count).CopyToCPU(values.AsSpan());
        return values;
    }
}
