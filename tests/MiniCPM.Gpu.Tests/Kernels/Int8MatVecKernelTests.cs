using System.Buffers.Binary;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The int8-activation GPU path (quantize once, then integer block dot products) against the CPU backend's int8 path
/// (<see cref="ActivationPrecision.Int8"/>, ggml's Q8_0/Q8_1 activations and integer sums): both quantize identically
/// and sum exact integers per block, so only the float accumulation order of the per-block terms differs.
/// </summary>
[Collection(Simulator.Name)]
public sealed unsafe class Int8MatVecKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    public static TheoryData<TensorType, int, int, int, float> Cases => new()
    {
        { TensorType.Q4_0, 13, 128, 1, 1f },
        { TensorType.Q4_0, 13, 128, 4, 1e-3f }, // tiny activations: f16-subnormal scales
        { TensorType.Q4_0, 6, 96, 3, 1f },
        { TensorType.Q8_0, 11, 128, 1, 1f },
        { TensorType.Q8_0, 4, 64, 2, 100f },
        { TensorType.Q4_0, 3, 8192, 1, 1f }, // long rows: the group's four warps share each row pair
        { TensorType.Q4_1, 13, 128, 1, 1f },
        { TensorType.Q4_1, 6, 96, 3, 1e-3f },
        { TensorType.Q5_0, 11, 128, 2, 1f },
        { TensorType.Q5_0, 4, 64, 4, 1e-3f },
        { TensorType.Q5_1, 9, 128, 1, 1f },
        { TensorType.Q5_1, 5, 64, 4, 1e-3f },
        { TensorType.Q5_1, 2, 8192, 1, 1f },
        { TensorType.Q4_0, 5, 3584, 2, 1f }, // 112 blocks over 32 lanes: 3 or 4 rounds each (the fetch-ahead's last round)
        { TensorType.Q8_0, 3, 8448, 1, 1f }, // 264 blocks over 128 lanes: 2 or 3 rounds each
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheCpuInt8Path(TensorType type, int rows, int cols, int tokens, float scale)
    {
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed: rows * 17 + cols);
        float[] x = Check.Random(tokens * cols, seed: 9, scale);
        x[5] = 0;
        float[] bias = Check.Random(rows, seed: 10);
        float[] expected = new float[tokens * rows];
        fixed (byte* data = bytes)
            MatMul.Multiply(WeightMatrix.Contiguous(type, data, rows, cols), x, tokens, expected, bias,
                activations: ActivationPrecision.Int8);

        var actual = GpuInt8Product(type, bytes, rows, cols, x, tokens, bias);

        float[] naive = NaiveInt8(type, bytes, rows, cols, x, tokens, bias);
        Check.Close(naive, actual, absolute: 1e-5 * scale * Math.Sqrt(cols), relative: 1e-5);
        Check.Close(expected, actual, absolute: 1e-5 * scale * Math.Sqrt(cols), relative: 1e-5);
    }

    /// <summary>
    /// Every team width a bench may ask for gives the product: 7 rows are 4 pairs, the last with one row, so with teams of
    /// 1 or 2 warps a group also holds dead teams; 80 blocks over a team's lanes take 1 to 3 rounds.
    /// </summary>
    [Theory]
    [InlineData(TensorType.Q4_0, 1)]
    [InlineData(TensorType.Q4_0, 2)]
    [InlineData(TensorType.Q4_0, 4)]
    [InlineData(TensorType.Q6_K, 2)]
    public void EveryTeamWidthMatchesTheNaiveInt8Reference(TensorType type, int teamWarps)
    {
        const int rows = 7, cols = 2560, tokens = 2;
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed: 23);
        float[] x = Check.Random(tokens * cols, seed: 24);
        float[] bias = Check.Random(rows, seed: 25);

        var actual = GpuInt8Product(type, bytes, rows, cols, x, tokens, bias, teamWarps: teamWarps);

        var weights = new float[rows * cols];
        Dequantizer.ToFloat(type, bytes, weights);
        double wMax = weights.Max(MathF.Abs);
        Check.Close(NaiveInt8(type, bytes, rows, cols, x, tokens, bias), actual, absolute: 1e-5 * wMax * Math.Sqrt(cols), relative: 1e-5);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(-1)]
    public void ATeamWidthOtherThanOneTwoOrFourIsRefused(int teamWarps)
    {
        using var matrix = GpuMatrix.Upload(_device, TensorType.Q4_0, WeightBytes.Random(TensorType.Q4_0, 2, 64, seed: 1), 2, 64);
        using var q = new Int8Buffer(_device, 1, 64);
        using var ys = _device.Allocate<float>(2);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => _device.Kernels.MatMulInt8(matrix, q.For(64), 1, ys.View, teamWarps: teamWarps));
        Assert.Equal("teamWarps", error.ParamName);
    }

    /// <summary>x quantized to int8 blocks and multiplied on the device: W·x + bias, added onto <paramref name="prior"/>
    /// when given (accumulate).</summary>
    private float[] GpuInt8Product(TensorType type, byte[] bytes, int rows, int cols, float[] x, int tokens, float[] bias,
        float[]? prior = null, int teamWarps = 0)
    {
        using var matrix = GpuMatrix.Upload(_device, type, bytes, rows, cols);
        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, tokens, cols);
        using var ys = prior is null ? _device.Allocate<float>(tokens * rows) : _device.Upload<float>(prior);
        using var b = _device.Upload<float>(bias);
        _device.Kernels.QuantizeInt8(xs.View, tokens, cols, q.For(cols));
        _device.Kernels.MatMulInt8(matrix, q.For(cols), tokens, ys.View, b.View, accumulate: prior is not null, teamWarps: teamWarps);
        return Check.Download(_device, ys.View, tokens * rows);
    }

    public static TheoryData<TensorType, int, int, int, float> KQuantCases => new()
    {
        { TensorType.Q4_K, 5, 768, 1, 1f }, // three super-blocks: every sub-block's 6-bit scale/min packing
        { TensorType.Q4_K, 7, 512, 4, 1e-3f }, // tiny activations: f16-subnormal scales
        { TensorType.Q6_K, 6, 768, 1, 1f },
        { TensorType.Q6_K, 3, 512, 4, 1e-3f },
        { TensorType.Q4_K, 2, 8192, 1, 1f }, // long rows: the group's four warps share each row pair
        { TensorType.Q5_K, 5, 768, 1, 1f },
        { TensorType.Q5_K, 3, 512, 4, 1e-3f },
        { TensorType.Q3_K, 6, 768, 1, 1f },
        { TensorType.Q3_K, 3, 512, 4, 1e-3f },
        { TensorType.Q2_K, 6, 768, 1, 1f },
        { TensorType.Q2_K, 3, 512, 4, 1e-3f },
        { TensorType.Q6_K, 3, 2560, 2, 1f }, // 80 blocks over 32 lanes: 2 or 3 rounds each
        { TensorType.Q4_K, 2, 9216, 1, 1f }, // 288 blocks over 128 lanes: 2 or 3 rounds each
    };

    /// <summary>
    /// The K-quants against the same int8 activations in double math. Not against the CPU's int8 path: that one pairs
    /// K-quants with 256-value Q8_K activation blocks (one scale per super-block), the GPU with the 32-value blocks
    /// (as llama.cpp's CPU vs CUDA paths), so they round the activations differently by design.
    /// </summary>
    [Theory]
    [MemberData(nameof(KQuantCases))]
    public void KQuantsMatchTheNaiveInt8Reference(TensorType type, int rows, int cols, int tokens, float scale)
    {
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed: rows * 31 + cols);
        float[] x = Check.Random(tokens * cols, seed: 11, scale);
        x[7] = 0;
        for (int i = 64; i < 96; i++) x[i] = 0; // an all-zero activation block: d_x = 0
        float[] bias = Check.Random(rows, seed: 12);

        var actual = GpuInt8Product(type, bytes, rows, cols, x, tokens, bias);

        // K-quant weights reach ~10 in magnitude (d·sc·q up to 0.016·63·15), the Q4_0 test's ~1: scale the
        // absolute budget by the largest weight so it stays float rounding of the same sums.
        var weights = new float[rows * cols];
        Dequantizer.ToFloat(type, bytes, weights);
        double wMax = weights.Max(MathF.Abs);
        float[] naive = NaiveInt8(type, bytes, rows, cols, x, tokens, bias);
        Check.Close(naive, actual, absolute: 1e-5 * wMax * scale * Math.Sqrt(cols), relative: 1e-5);
    }

    public static TheoryData<TensorType> NewInt8Formats => new()
    {
        TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1, TensorType.Q5_K, TensorType.Q3_K, TensorType.Q2_K,
    };

    /// <summary>
    /// Rows whose blocks carry extreme headers — negative scales, large negative mins, f16-subnormal scales and mins,
    /// zero scales — over random block bytes (any quants, any packed sub-block scales), for three tokens with bias and
    /// accumulate: against the double reference for every format, and against the CPU's int8 path for the 32-value
    /// ones (the K-quants' CPU path pairs them with other activation blocks, see above). Each row is held to the
    /// tolerances above with its own largest weight.
    /// </summary>
    [Theory]
    [MemberData(nameof(NewInt8Formats))]
    public void ExtremeScalesAndMinsMatchTheReferences(TensorType type)
    {
        const int rows = 6, tokens = 3;
        const float scale = 2f;
        int cols = type.BlockElements() == 256 ? 512 : 128;
        byte[] bytes = ExtremeWeights(type, rows, cols, seed: 41);
        float[] x = Check.Random(tokens * cols, seed: 42, scale);
        for (int i = 32; i < 64; i++) x[i] = 0; // an all-zero activation block: d_x = 0, s = 0
        float[] bias = Check.Random(rows, seed: 43);
        float[] prior = Check.Random(tokens * rows, seed: 44, scale: 5);

        var actual = GpuInt8Product(type, bytes, rows, cols, x, tokens, bias, prior);

        float[] naive = NaiveInt8(type, bytes, rows, cols, x, tokens, bias);
        float[]? cpu = null;
        if (type.BlockElements() == 32)
        {
            cpu = new float[tokens * rows];
            fixed (byte* data = bytes)
                MatMul.Multiply(WeightMatrix.Contiguous(type, data, rows, cols), x, tokens, cpu, bias, activations: ActivationPrecision.Int8);
        }
        var weights = new float[rows * cols];
        Dequantizer.ToFloat(type, bytes, weights);
        for (int r = 0; r < rows; r++)
        {
            double wMax = weights.AsSpan(r * cols, cols).ToArray().Max(MathF.Abs);
            double absolute = 1e-5 * wMax * scale * Math.Sqrt(cols);
            for (int t = 0; t < tokens; t++)
            {
                int i = t * rows + r;
                Check.Close([naive[i] + prior[i]], [actual[i]], absolute, relative: 1e-5);
                if (cpu is not null) Check.Close([cpu[i] + prior[i]], [actual[i]], absolute, relative: 1e-5);
            }
        }
    }

    /// <summary>
    /// Row 0 as the CPU quantizer makes it; rows 1.. random bytes with every block's f16 scale (and min: Q4_1/Q5_1's m,
    /// the K-quants' dmin) set to one extreme pair per row.
    /// </summary>
    private static byte[] ExtremeWeights(TensorType type, int rows, int cols, int seed)
    {
        (float D, float M)[] headers = [(-0.03f, 0.4f), (0.5f, -60f), (6e-8f, -1e-5f), (0f, 0.25f), (-2f, -3f)];
        var (dAt, mAt) = type switch
        {
            TensorType.Q4_1 or TensorType.Q5_1 or TensorType.Q5_K => (0, 2),
            TensorType.Q5_0 => (0, -1),
            TensorType.Q2_K => (80, 82),
            TensorType.Q3_K => (108, -1),
            _ => throw new ArgumentException($"no extreme headers for {type}"),
        };
        byte[] bytes = WeightBytes.Random(type, rows, cols, seed);
        var random = new Random(seed);
        int rowBytes = (int)type.RowBytes(cols)!.Value, blockBytes = type.BlockBytes();
        for (int r = 1; r < rows; r++)
        {
            var (d, m) = headers[(r - 1) % headers.Length];
            var row = bytes.AsSpan(r * rowBytes, rowBytes);
            random.NextBytes(row);
            for (int at = 0; at < rowBytes; at += blockBytes)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(row[(at + dAt)..], Fp16.FromFloat(d));
                if (mAt >= 0) BinaryPrimitives.WriteUInt16LittleEndian(row[(at + mAt)..], Fp16.FromFloat(m));
            }
        }
        return bytes;
    }

    /// <summary>
    /// ggml's Q8_0 quantization and per-block integer sums in plain double math: dequantized weights × dequantized
    /// activations. For the types with a min (Q4_1, Q5_1) the activations are Q8_1 blocks, whose stored sum
    /// s = f16(amax/127·Σq) is what the min multiplies: m·(s − d_x·Σq) is added to the plain product.
    /// </summary>
    private static float[] NaiveInt8(TensorType type, byte[] bytes, int rows, int cols, float[] x, int tokens, float[] bias)
    {
        var weights = new float[rows * cols];
        Dequantizer.ToFloat(type, bytes, weights);
        var y = new float[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = bias[r];
                for (int b = 0; b < cols / 32; b++)
                {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) amax = MathF.Max(amax, MathF.Abs(x[t * cols + b * 32 + i]));
                    float id = amax != 0 ? 127f / amax : 0f;
                    double dx = (double)(float)(Half)(amax / 127f);
                    int quantSum = 0;
                    for (int i = 0; i < 32; i++)
                    {
                        int q = (int)MathF.Round(x[t * cols + b * 32 + i] * id, MidpointRounding.ToEven);
                        quantSum += q;
                        sum += weights[r * cols + b * 32 + i] * dx * q;
                    }
                    if (BlockMin(type, bytes, cols, r, b) is { } min)
                        sum += min * ((double)(float)(Half)(amax / 127f * quantSum) - dx * quantSum);
                }
                y[t * rows + r] = (float)sum;
            }
        return y;
    }

    /// <summary>The f16 min m of block <paramref name="block"/> of row <paramref name="row"/> (bytes 2..3 of a Q4_1 or
    /// Q5_1 block), or null for the types without one.</summary>
    private static double? BlockMin(TensorType type, byte[] bytes, int cols, int row, int block)
    {
        if (type is not (TensorType.Q4_1 or TensorType.Q5_1)) return null;
        long at = type.RowBytes(cols)!.Value * row + (long)type.BlockBytes() * block + 2;
        return Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)at)));
    }

    [Fact]
    public void DiffersFromTheFloatPathByTheActivationRoundingOnly()
    {
        // The int8 result is not the float result: per element the activation moves by ≤ ½ of d_x = amax/127.
        const int rows = 8, cols = 256;
        byte[] bytes = WeightBytes.Random(TensorType.Q8_0, rows, cols, seed: 21);
        float[] x = Check.Random(cols, seed: 22);
        float[] exact = new float[rows];
        fixed (byte* data = bytes)
            MatMul.MatVec(WeightMatrix.Contiguous(TensorType.Q8_0, data, rows, cols), x, exact);

        using var matrix = GpuMatrix.Upload(_device, TensorType.Q8_0, bytes, rows, cols);
        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, 1, cols);
        using var ys = _device.Allocate<float>(rows);
        _device.Kernels.QuantizeInt8(xs.View, 1, cols, q.For(cols));
        _device.Kernels.MatMulInt8(matrix, q.For(cols), 1, ys.View, accumulate: false);
        var actual = Check.Download(_device, ys.View, rows);

        var weights = new float[rows * cols];
        Dequantizer.ToFloat(TensorType.Q8_0, bytes, weights);
        bool anyDifferent = false;
        for (int r = 0; r < rows; r++)
        {
            double bound = 0;
            for (int c = 0; c < cols; c++) bound += Math.Abs(weights[r * cols + c]) * 0.5 / 127 * 1.0001; // |x| ≤ 1 → amax ≤ 1
            Assert.True(Math.Abs(actual[r] - exact[r]) <= bound + 1e-4, $"row {r}: {actual[r]} vs {exact[r]} beyond {bound}");
            anyDifferent |= actual[r] != exact[r];
        }
        Assert.True(anyDifferent);
    }
}
