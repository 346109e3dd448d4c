using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// <see cref="MatMul.MatVecShared"/>: several products of one x in one call (x quantized once, one pool dispatch over
/// all rows). Each output must be ggml's integer dot of its own matrix with the quantized x (the double reference of
/// <see cref="Int8MatMulTests"/>), whatever the mix of types and however the pool cuts the concatenated rows; on one
/// thread it must be bit-identical to separate <see cref="MatMul.MatVec"/> calls (the same kernels over the same rows).
/// </summary>
public sealed unsafe class SharedInputMatVecTests
{
    public static TheoryData<TensorType[], int[], int, int> Cases() => new()
    {
        // q|k|v of llama.cpp's Q4_K_M on a 896-wide model: Q5_0, Q5_0, Q8_0 (row counts not multiples of the chunking).
        { [TensorType.Q5_0, TensorType.Q5_0, TensorType.Q8_0], [37, 9, 9], 896, 2 },
        { [TensorType.Q4_0, TensorType.Q4_1, TensorType.Q5_1, TensorType.Q8_0], [16, 5, 8, 3], 64, 2 },
        { [TensorType.Q4_0, TensorType.Q4_0], [64, 64], 896, 1 },
        { [TensorType.Q4_K, TensorType.Q6_K, TensorType.Q2_K], [7, 12, 5], 512, 2 },
        // Int8 block sizes differ (32 and 256): each product runs alone, still right.
        { [TensorType.Q8_0, TensorType.Q4_K], [9, 6], 512, 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachOutputIsTheIntegerDotOfItsMatrixWithTheQuantizedInput(TensorType[] types, int[] rows, int cols, int threads)
    {
        var random = new Random(cols * 13 + rows.Sum() + types.Length);
        var weights = types.Select((t, i) => RandomQuantBlocks.Weights(t, rows[i], cols, random)).ToArray();
        float[] x = TestWeights.RandomVector(random, cols);
        var biases = rows.Select((r, i) => i % 2 == 0 ? TestWeights.RandomVector(random, r) : null).ToArray();
        var outputs = rows.Select(r => new float[r + 3]).ToArray(); // longer than needed: only [0, rows) is written
        foreach (var o in outputs) o.AsSpan().Fill(float.NaN);
        using var pool = new CpuThreadPool(threads);

        Run(weights, x, biases, outputs, pool, ActivationPrecision.Int8);

        for (int i = 0; i < weights.Length; i++)
        {
            var expected = Int8MatMulTests.Int8Reference(weights[i], x, 1);
            for (int r = 0; r < rows[i]; r++)
            {
                var (sum, abs) = expected[0, r];
                double b = biases[i]?[r] ?? 0;
                Assert.True(Math.Abs(outputs[i][r] - (sum + b)) <= Tolerance.DotProduct(cols + 1, abs + Math.Abs(b)),
                    $"{types[i]} (product {i}) row {r}: got {outputs[i][r]}, expected {sum + b}");
            }
            Assert.All(outputs[i][rows[i]..], v => Assert.True(float.IsNaN(v)));
        }
    }

    [Theory]
    [InlineData(ActivationPrecision.Int8)]
    [InlineData(ActivationPrecision.Float32)]
    public void OnOneThreadItIsBitIdenticalToSeparateMatVecs(ActivationPrecision activations)
    {
        var random = new Random(5);
        TensorType[] types = [TensorType.Q5_0, TensorType.Q8_0, TensorType.Q4_0];
        int[] rows = [21, 8, 13];
        var weights = types.Select((t, i) => RandomQuantBlocks.Weights(t, rows[i], 896, random)).ToArray();
        float[] x = TestWeights.RandomVector(random, 896);
        var biases = rows.Select(r => TestWeights.RandomVector(random, r)).ToArray();
        var shared = rows.Select(r => new float[r]).ToArray();

        Run(weights, x, biases, shared, null, activations);

        for (int i = 0; i < weights.Length; i++)
        {
            var separate = new float[rows[i]];
            fixed (byte* data = weights[i].Bytes)
                MatMul.MatVec(weights[i].Matrix(data), x, separate, biases[i], null, activations);
            Assert.Equal(separate, shared[i]);
        }
    }

    [Fact]
    public void ProductsOfDifferentInputWidthsAreRejected()
    {
        var random = new Random(1);
        var a = RandomQuantBlocks.Weights(TensorType.Q8_0, 4, 64, random);
        var b = RandomQuantBlocks.Weights(TensorType.Q8_0, 4, 96, random);
        var e = Assert.Throws<ArgumentException>(() => Run([a, b], new float[96], [null, null], [new float[4], new float[4]], null, ActivationPrecision.Int8));
        Assert.Contains("different input widths", e.Message);
    }

    [Fact]
    public void AnOutputTooShortIsRejected()
    {
        var random = new Random(2);
        var a = RandomQuantBlocks.Weights(TensorType.Q4_0, 8, 64, random);
        Assert.Throws<ArgumentException>(() => Run([a], new float[64], [null], [new float[7]], null, ActivationPrecision.Int8));
    }

    private static void Run(QuantTestWeights[] weights, float[] x, float[]?[] biases, float[][] outputs, CpuThreadPool? pool,
        ActivationPrecision activations)
    {
        // Pin every matrix's bytes for the call (the views hold raw pointers).
        var handles = weights.Select(w => System.Runtime.InteropServices.GCHandle.Alloc(w.Bytes, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            var targets = weights.Select((w, i) => new MatVecTarget(
                w.Matrix((byte*)handles[i].AddrOfPinnedObject()), outputs[i], biases[i] ?? ReadOnlyMemory<float>.Empty)).ToArray();
            MatMul.MatVecShared(x, targets, pool, activations);
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }
}
