using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>
/// The K-quant quantizers (Q2_K..Q6_K) on quantize → dequantize round trips. Their byte equality with ggml's
/// reference quantizers is shown against llama.cpp itself (MiniCPM.LlamaCpp.Tests); here: the error stays within one
/// step of a b-bit grid spanning ±max|x| of the 256-value block (rms within half a step), zero blocks stay exactly
/// zero, and degenerate blocks (constant, one-signed, tiny, outliers) decode to finite values near the input.
/// </summary>
public class KQuantizerTests
{
    public static TheoryData<TensorType, int> Types => new()
    {
        { TensorType.Q2_K, 2 }, { TensorType.Q3_K, 3 }, { TensorType.Q4_K, 4 }, { TensorType.Q5_K, 5 }, { TensorType.Q6_K, 6 },
    };

    private static float[] RoundTrip(TensorType type, float[] x)
    {
        var bytes = new byte[x.Length / 256 * type.BlockBytes()];
        BlockQuantizer.Quantize(type, x, bytes);
        var y = new float[x.Length];
        Dequantizer.ToFloat(type, bytes, y);
        return y;
    }

    /// <summary>256-value blocks: bell-shaped at magnitude 1 and 300, negative-only, positive-only, outliers, constant.</summary>
    private static float[] Blocks(double[] magnitudes, int count, int seed)
    {
        var random = new Random(seed);
        var x = new float[256 * count];
        for (int b = 0; b < count; b++)
        {
            double scale = magnitudes[b % magnitudes.Length];
            for (int j = 0; j < 256; j++)
            {
                double bell = (random.NextDouble() + random.NextDouble() + random.NextDouble() + random.NextDouble() - 2) * 1.7;
                float v = (float)(bell * scale);
                x[256 * b + j] = (b / magnitudes.Length % 5) switch
                {
                    1 => -Math.Abs(v),
                    2 => Math.Abs(v),
                    3 => j % 50 == 7 ? (float)(scale * 12) : v,
                    4 => (float)(-0.7 * scale),
                    _ => v,
                };
            }
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Round_trip_error_is_within_one_step_of_a_full_range_grid(TensorType type, int bits)
    {
        float[] x = Blocks([1, 300], 60, seed: 11);
        float[] y = RoundTrip(type, x);
        double step = 2.0 / (1 << bits); // of max|x| per block
        for (int b = 0; b < x.Length / 256; b++)
        {
            var block = x.AsSpan(256 * b, 256);
            double amax = 0, squared = 0;
            foreach (float v in block) amax = Math.Max(amax, Math.Abs(v));
            for (int j = 0; j < 256; j++)
            {
                double error = Math.Abs(x[256 * b + j] - y[256 * b + j]);
                squared += error * error;
                Assert.True(error <= step * amax, $"{type} block {b} element {j}: {x[256 * b + j]} → {y[256 * b + j]} (|error| {error:G4} > {step * amax:G4})");
            }
            double rms = Math.Sqrt(squared / 256);
            Assert.True(rms <= step / 2 * amax, $"{type} block {b}: rms error {rms:G4} > {step / 2 * amax:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Zero_blocks_decode_to_exact_zeros_and_leave_neighbours_alone(TensorType type, int bits)
    {
        float[] x = Blocks([1], 3, seed: 5);
        x.AsSpan(256, 256).Clear();
        float[] alone = RoundTrip(type, x.AsSpan(0, 256).ToArray());
        float[] y = RoundTrip(type, x);
        Assert.All(y.AsSpan(256, 256).ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(alone, y.AsSpan(0, 256).ToArray()); // blocks are independent
        Assert.True(bits > 0);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Tiny_values_with_subnormal_half_scales_stay_finite_and_small(TensorType type, int bits)
    {
        // Scales of ~1e-8 are below the smallest normal f16 (6.1e-5): d is stored subnormal or flushes to zero.
        float[] x = Blocks([1e-5, 1e-3], 20, seed: 3);
        float[] y = RoundTrip(type, x);
        double step = 2.0 / (1 << bits);
        // The f16 rounding of d (half the subnormal spacing 2^-24) times the largest code·scale a block can hold.
        double halfSpacing = Math.Pow(2, -25) * 64 * 128;
        for (int b = 0; b < x.Length / 256; b++)
        {
            double amax = 0;
            for (int j = 0; j < 256; j++) amax = Math.Max(amax, Math.Abs(x[256 * b + j]));
            for (int j = 0; j < 256; j++)
            {
                Assert.True(float.IsFinite(y[256 * b + j]));
                Assert.True(Math.Abs(x[256 * b + j] - y[256 * b + j]) <= step * amax + halfSpacing, $"{type} block {b} element {j}");
            }
        }
    }

    [Fact]
    public void Q6_K_all_zero_block_is_all_zero_bytes()
    {
        var bytes = new byte[210];
        bytes.AsSpan().Fill(0xAB);
        BlockQuantizer.Quantize(TensorType.Q6_K, new float[256], bytes);
        Assert.All(bytes, b => Assert.Equal(0, b));
    }
}
