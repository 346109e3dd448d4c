using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;
using MiniCPM.Gpu.Tests.Models;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The tensor-core matrix kernel (<see cref="TensorCoreMatMulKernel"/>, what <see cref="GpuKernels.MatMul"/> takes
/// for tiled products while <see cref="GpuKernels.TensorCores"/> is on). On the simulator, <see cref="Tf32MmaEmulation"/>
/// emulates the instruction from the PTX fragment table, so these check the kernel's fragment bookkeeping; on a CUDA
/// device (MINICPM_GPU_TEST_DEVICE=cuda) the same tests run the real <c>mma.sync</c>, and the first one checks the
/// table itself against the hardware.
/// </summary>
[Collection(Simulator.Name)]
public sealed unsafe class TensorCoreMatMulKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    /// <summary>One instruction: each lane builds its fragments of A (16×8), B (8×8) and C (16×8) from the table in
    /// <see cref="ITf32Mma"/>'s summary (written out again here) and stores D by the same table. On CUDA this is the
    /// hardware's word on the table.</summary>
    [Fact]
    public void OneInstructionMultipliesTheFragmentsOfThePtxTable()
    {
        float[] a = Check.Random(16 * 8, seed: 1).Select(Tf32.Round).ToArray();
        float[] b = Check.Random(8 * 8, seed: 2).Select(Tf32.Round).ToArray();
        float[] c = Check.Random(16 * 8, seed: 3);
        var expected = new float[16 * 8];
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
            {
                double sum = c[m * 8 + n];
                for (int k = 0; k < 8; k++) sum += (double)a[m * 8 + k] * b[k * 8 + n];
                expected[m * 8 + n] = (float)sum;
            }

        using var aBuffer = _device.Upload<float>(a);
        using var bBuffer = _device.Upload<float>(b);
        using var cBuffer = _device.Upload<float>(c);
        using var dBuffer = _device.Allocate<float>(16 * 8);
        var kernel = _device.IsCuda
            ? _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OneMma<Tf32MmaInstruction>)
            : _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OneMma<Tf32MmaEmulation>);
        kernel(new KernelConfig(1, 32), aBuffer.View, bBuffer.View, cBuffer.View, dBuffer.View);
        _device.Accelerator.Synchronize();

        // TF32 products are exact; only the float additions' order may differ from the double sum.
        Check.Close(expected, Check.Download(_device, dBuffer.View, 16 * 8), absolute: 1e-5);
    }

    private static void OneMma<TMma>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> d) where TMma : struct, ITf32Mma
    {
        int lane = Warp.LaneIdx, g = lane / 4, t = lane % 4;
        float d0 = c[g * 8 + 2 * t], d1 = c[g * 8 + 2 * t + 1], d2 = c[(g + 8) * 8 + 2 * t], d3 = c[(g + 8) * 8 + 2 * t + 1];
        default(TMma).MultiplyAdd(ref d0, ref d1, ref d2, ref d3,
            a[g * 8 + t], a[(g + 8) * 8 + t], a[g * 8 + t + 4], a[(g + 8) * 8 + t + 4],
            b[t * 8 + g], b[(t + 4) * 8 + g]);
        d[g * 8 + 2 * t] = d0;
        d[g * 8 + 2 * t + 1] = d1;
        d[(g + 8) * 8 + 2 * t] = d2;
        d[(g + 8) * 8 + 2 * t + 1] = d3;
    }

    [Theory]
    [MemberData(nameof(TiledMatMulKernelTests.Cases), MemberType = typeof(TiledMatMulKernelTests))]
    public void MatchesTheCpuBackend(TensorType type, int rows, int cols, int tokens)
    {
        TensorCoreSwitch.With(_device, tensorCores: true, () => MatMulKernelTests.ExpectTheCpuProduct(_device, type, rows, cols, tokens));
    }

    [Fact]
    public void WritesItsPartOfWiderRowsAndAccumulates()
    {
        TensorCoreSwitch.With(_device, tensorCores: true, () => TiledMatMulKernelTests.ExpectFusedRowsAndAccumulation(_device));
    }

    /// <summary>
    /// float32 accuracy, not TF32's: activations spanning six decades and weights with full mantissas, against a
    /// double-precision sum. The high parts alone (plain TF32) miss by ~1e-3 of Σ|w·x| per product; the split keeps
    /// the error near float32 rounding (the test fails if the low parts are dropped).
    /// </summary>
    [Fact]
    public void KeepsFloat32AccuracyThroughTheSplit() => ExpectFloat32Accuracy(_device, cols: 256);

    /// <summary>The same at a 7B row's 3584 columns, on the hardware: its accumulator may round toward zero, which the
    /// kernel's per-unit partial sums keep from adding up over 112 units (the simulator rounds to nearest; too slow
    /// here at this size).</summary>
    [CudaFact]
    public void KeepsFloat32AccuracyOverA7BRowOnCuda()
    {
        using var device = GpuDevice.Open("cuda");
        ExpectFloat32Accuracy(device, cols: 3584);
    }

    private static void ExpectFloat32Accuracy(GpuDevice device, int cols)
    {
        const int rows = 64, tokens = 64;
        float[] w = Check.Random(rows * cols, seed: 11);
        float[] x = Check.Random(tokens * cols, seed: 12).Select((v, i) => v * MathF.Pow(10, i % 7 - 3)).ToArray();
        var expected = new float[tokens * rows];
        var bound = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0, magnitude = 0;
                for (int k = 0; k < cols; k++)
                {
                    double p = (double)w[r * cols + k] * x[t * cols + k];
                    sum += p;
                    magnitude += Math.Abs(p);
                }
                expected[t * rows + r] = (float)sum;
                bound[t * rows + r] = magnitude;
            }

        var actual = OnTensorCores(device, w, x, rows, cols, tokens);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 2e-6 * bound[i],
                $"output {i}: {actual[i]:G9} against {expected[i]:G9} (Σ|w·x| {bound[i]:G3}): more than float32 rounding");
    }

    /// <summary>An infinite activation makes its token's sums non-finite (±inf on CUDA cores; NaN here, where the
    /// split's products include 0·inf and inf − inf) and leaves every other token's sums finite and right.</summary>
    [Fact]
    public void KeepsAnInfiniteActivationToItsToken()
    {
        const int rows = 64, cols = 32, tokens = 48;
        float[] w = Check.Random(rows * cols, seed: 13);
        float[] x = Check.Random(tokens * cols, seed: 14);
        x[5 * cols + 7] = float.PositiveInfinity;
        var actual = OnTensorCores(_device, w, x, rows, cols, tokens);
        for (int i = 0; i < actual.Length; i++)
        {
            int t = i / rows, r = i % rows;
            if (t == 5) { Assert.False(float.IsFinite(actual[i])); continue; }
            double sum = 0;
            for (int k = 0; k < cols; k++) sum += (double)w[r * cols + k] * x[t * cols + k];
            Assert.True(Math.Abs(actual[i] - sum) <= 1e-5, $"token {t}, row {r}: {actual[i]} against {sum}");
        }
    }

    /// <summary>y = W·x of F32 weights [rows, cols] over <paramref name="tokens"/> tokens, with the tensor cores on.</summary>
    private static float[] OnTensorCores(GpuDevice device, float[] w, float[] x, int rows, int cols, int tokens)
    {
        using var matrix = GpuMatrix.Upload(device, TensorType.F32, MemoryMarshalBytes(w), rows, cols);
        using var xs = device.Upload<float>(x);
        using var ys = device.Allocate<float>(tokens * rows);
        TensorCoreSwitch.With(device, tensorCores: true, () => device.Kernels.MatMul(matrix, xs.View, tokens, ys.View));
        return Check.Download(device, ys.View, tokens * rows);
    }

    private static byte[] MemoryMarshalBytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public void RoundsToTf32NearestTiesAwayFromZero()
    {
        Assert.Equal(1f, Tf32.Round(1f + MathF.Pow(2, -12)));                            // below half a step
        Assert.Equal(1f + MathF.Pow(2, -10), Tf32.Round(1f + MathF.Pow(2, -11)));        // a tie: away from zero
        Assert.Equal(-(1f + MathF.Pow(2, -10)), Tf32.Round(-(1f + MathF.Pow(2, -11))));
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(Tf32.Round(MathF.PI)) & 0x1FFFu); // 10 mantissa bits left
        Assert.Equal(float.PositiveInfinity, Tf32.Round(float.PositiveInfinity));
        Assert.True(float.IsNaN(Tf32.Round(float.NaN)));
        float value = 0.1234567f, high = Tf32.Round(value), low = Tf32.Round(value - high);
        Assert.True(Math.Abs(value - (double)high - low) <= Math.Pow(2, -22) * value);
    }

    /// <summary>The bench's compute ceilings compile to what they claim: 4 products per loop (the instruction, no
    /// emulation), and float FMA chains with nothing in local memory.</summary>
    [Fact]
    public void TheCeilingKernelsCompile()
    {
        string mma = Ptx.Grouped(typeof(PeakKernels).GetMethod(nameof(PeakKernels.Mma))!.MakeGenericMethod(typeof(Tf32MmaInstruction)));
        Assert.Equal(PeakKernels.MmaChains, mma.Split('\n').Count(l => l.Contains("mma.sync.aligned.m16n8k8", StringComparison.Ordinal)));
        Assert.DoesNotContain("bar.sync", mma); // the emulation's barriers are not in the CUDA kernel
        string fma = Ptx.Indexed(typeof(PeakKernels).GetMethod(nameof(PeakKernels.Fma))!);
        Assert.DoesNotContain(".local", fma);
    }

    /// <summary>Twelve <c>mma.sync</c> per 8-column step (3 per instruction tile × 4 tiles) for every format, and
    /// nothing in local memory but ILGPU's 4-byte slots for the inline PTX's operands (ptxas keeps those in registers:
    /// <c>minicpm-kernel-sass tensor-core</c> shows no local loads or stores).</summary>
    [Theory]
    [MemberData(nameof(MatMulPtxTests.Formats), MemberType = typeof(MatMulPtxTests))]
    public void CompilesToTwelveTf32MmaPerStep(Type format)
    {
        string ptx = Ptx.Grouped(typeof(TensorCoreMatMulKernel).GetMethod(nameof(TensorCoreMatMulKernel.Kernel))!.MakeGenericMethod(format, typeof(Tf32MmaInstruction)));
        var lines = ptx.Split('\n');
        Assert.Equal(12, lines.Count(l => l.Contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", StringComparison.Ordinal)));
        var depots = lines.Where(l => l.TrimStart().StartsWith(".local", StringComparison.Ordinal)).ToList();
        Assert.Equal(12 * 10, depots.Count); // 4 accumulators + 6 operands per instruction
        Assert.All(depots, d => Assert.EndsWith("[4];", d.Trim()));
        Assert.DoesNotContain("f32.u8", ptx);
    }
}
