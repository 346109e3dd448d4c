using ILGPU;
using MiniCPM.Engine.Audio;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Gpu.Tests.Kernels;

namespace MiniCPM.Gpu.Tests.Audio;

/// <summary>
/// The Whisper encoder's own kernels on the simulator against the CPU backend: the 1-D convolution unfold (both input
/// layouts, both strides, padding columns) against <see cref="Conv1d.Im2Col"/>, exact GELU against the double-precision
/// <see cref="Activations.GeluErf"/> from the far negative tail to the far positive side, the block-causal dense
/// attention against <see cref="PrefixAttention"/> with <see cref="AudioAttentionMask"/>'s prefixes, and the average
/// pooling against <see cref="AudioProjector.AveragePool"/>.
/// </summary>
[Collection(Simulator.Name)]
public sealed class AudioKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(7, 5, 1, 32, true)]   // conv1 on a mel spectrogram [bins, frames], padded rows
    [InlineData(8, 5, 2, 15, false)]  // conv2 on time-major rows, stride 2, even length
    [InlineData(9, 4, 2, 12, false)]  // odd length: the last step's right tap reads the padding
    [InlineData(1, 3, 1, 9, true)]    // one frame: both outer taps are padding
    public void Conv1dUnfoldMatchesTheCpuIm2Col(int length, int channels, int stride, int rowStride, bool channelMajor)
    {
        const int taps = 3, padding = 1;
        float[] signal = Check.Random(length * channels, 3);
        // The CPU takes time-major rows; a channel-major input is the same values transposed.
        var timeMajor = new float[length * channels];
        for (int t = 0; t < length; t++)
            for (int c = 0; c < channels; c++)
                timeMajor[t * channels + c] = channelMajor ? signal[c * length + t] : signal[t * channels + c];
        int steps = Conv1d.OutputLength(length, taps, stride, padding);
        int width = channels * taps;
        var expected = new float[steps * width];
        Conv1d.Im2Col(timeMajor, length, channels, taps, stride, padding, expected);

        using var input = _device.Upload<float>(signal);
        using var columns = _device.Upload<float>(Enumerable.Repeat(float.NaN, steps * rowStride).ToArray());
        int made = _device.Kernels.Conv1dUnfold(new Conv1dUnfoldArgs
        {
            Input = input.View, TimeStride = channelMajor ? 1 : channels, ChannelStride = channelMajor ? length : 1,
            Length = length, Channels = channels, Taps = taps, Stride = stride, Padding = padding,
            Columns = columns.View, RowStride = rowStride,
        });
        Assert.Equal(steps, made);
        var actual = Check.Download(_device, columns.View, steps * rowStride);
        for (int t = 0; t < steps; t++)
        {
            Assert.Equal(expected.AsSpan(t * width, width).ToArray(), actual.AsSpan(t * rowStride, width).ToArray());
            for (int i = width; i < rowStride; i++) Assert.Equal(0f, actual[t * rowStride + i]);
        }
    }

    [Fact]
    public void Conv1dUnfoldRefusesRowsShorterThanTheKernel()
    {
        using var buffer = _device.Allocate<float>(64);
        var args = new Conv1dUnfoldArgs { Input = buffer.View, Columns = buffer.View, Length = 4, Channels = 4, Taps = 3, Stride = 1, TimeStride = 4, ChannelStride = 1, RowStride = 11 };
        Assert.Throws<ArgumentOutOfRangeException>(() => _device.Kernels.Conv1dUnfold(args));
    }

    [Fact]
    public void ExactGeluMatchesTheDoublePrecisionCpuGelu()
    {
        // −12 … 12 in steps of 1/64, plus 0, ±tiny and the far ends: the tail where erfc's relative precision matters.
        var x = Enumerable.Range(-768, 1537).Select(i => i / 64f).Concat([1e-20f, -1e-20f, -30f, 30f]).ToArray();
        var expected = new float[x.Length];
        Activations.GeluErf(x, expected);
        using var input = _device.Upload<float>(x);
        using var output = _device.Allocate<float>(x.Length);
        _device.Kernels.GeluErf(input.View, output.View, x.Length);
        var actual = Check.Download(_device, output.View, x.Length);
        // A few float ulp where GELU is not small; in the negative tail, where the float exponent's rounding lets the
        // relative error grow past 1e-6 (DeviceErf), values are below 1e-3 and the absolute error below 1e-8.
        Check.Close(expected, actual, 1e-8, 1e-6);
        Assert.Equal(0f, actual[Array.IndexOf(x, 0f)]);
    }

    [Fact]
    public void ReluKeepsThePositivePartAndNaN()
    {
        float[] x = [.. Check.Random(300, 4), float.NaN, float.PositiveInfinity, float.NegativeInfinity];
        using var input = _device.Upload<float>(x);
        using var output = _device.Allocate<float>(x.Length);
        _device.Kernels.Relu(input.View, output.View, x.Length);
        var expected = new float[x.Length];
        System.Numerics.Tensors.TensorPrimitives.Max(x, 0f, expected); // the CPU projector's ReLU
        Assert.Equal(expected, Check.Download(_device, output.View, x.Length));
        Assert.True(float.IsNaN(expected[300]));
    }

    public static TheoryData<int, int, int, int, DenseAttentionPath> ChunkedCases()
    {
        var cases = new TheoryData<int, int, int, int, DenseAttentionPath>();
        foreach (var path in DenseAttentionPaths.All)
        {
            cases.Add(100, 50, 1, 16, path); // the golden audio shape's head (64 / 4): 50-frame chunks, 100 frames
            cases.Add(37, 10, 2, 64, path);  // chunks that cut the 16-query tiles and the 32-key tiles unevenly
            cases.Add(20, 3, 1, 24, path);   // chunks smaller than a warp's four queries
            cases.Add(45, 0, 1, 32, path);   // 0: full attention, as before the mask
            if (path == DenseAttentionPath.Products || Simulator.DeviceName != "cpu") cases.Add(70, 30, 2, 64, path); // several query and key tiles per head under the mask
        }
        return cases;
    }

    /// <summary>Every path of <see cref="GpuKernels.DenseAttention"/> (<see cref="DenseAttentionPath"/>) with the block-causal mask.</summary>
    [Theory]
    [MemberData(nameof(ChunkedCases))]
    public void ChunkedAttentionMatchesTheCpuPrefixAttention(int frames, int chunk, int heads, int headDim, DenseAttentionPath path)
    {
        int width = heads * headDim;
        float[] q = Check.Random(frames * width, 5), k = Check.Random(frames * width, 6, 2f), v = Check.Random(frames * width, 7);
        float scale = 1f / MathF.Sqrt(headDim);
        var expected = new float[frames * width];
        PrefixAttention.Compute(q, k, v, expected, frames, frames, heads, heads, headDim, scale, AudioAttentionMask.VisibleKeys(frames, chunk));

        float[] actual = [];
        DenseAttentionPaths.With(_device, path, () => actual = Attend(q, k, v, frames, heads, headDim, scale, chunk));
        Check.Close(expected, actual, 2e-6, 1e-5);
    }

    [Fact]
    public void TheChunkMaskChangesTheFirstChunksRows()
    {
        // A mask that was ignored would pass the prefix check above only if the CPU ignored it too: here the rows of
        // the first chunk must differ from full attention's, and the last chunk's must not.
        const int frames = 40, chunk = 20, d = 16;
        float[] q = Check.Random(frames * d, 8), k = Check.Random(frames * d, 9, 2f), v = Check.Random(frames * d, 10);
        float[] chunked = Attend(q, k, v, frames, 1, d, 0.25f, chunk), full = Attend(q, k, v, frames, 1, d, 0.25f, 0);
        Assert.NotEqual(full.AsSpan(0, chunk * d).ToArray(), chunked.AsSpan(0, chunk * d).ToArray());
        Assert.Equal(full.AsSpan(chunk * d).ToArray(), chunked.AsSpan(chunk * d).ToArray());
    }

    /// <summary>Self-attention of q, k, v rows [frames, heads·headDim] on the device with the given key chunk.</summary>
    private float[] Attend(float[] q, float[] k, float[] v, int frames, int heads, int headDim, float scale, int keyChunk)
    {
        int width = heads * headDim;
        using var qBuffer = _device.Upload<float>(q);
        using var kBuffer = _device.Upload<float>(k);
        using var vBuffer = _device.Upload<float>(v);
        using var output = _device.Allocate<float>(frames * width);
        _device.Kernels.DenseAttention(new DenseAttentionArgs
        {
            Query = qBuffer.View, Key = kBuffer.View, Value = vBuffer.View, Output = output.View,
            QueryStride = width, KeyStride = width, ValueStride = width, OutputStride = width,
            Queries = frames, Keys = frames, Heads = heads, HeadDim = headDim, Scale = scale, KeyChunk = keyChunk,
        });
        return Check.Download(_device, output.View, frames * width);
    }

    [Theory]
    [InlineData(10, 6, 2)]
    [InlineData(11, 5, 2)] // a trailing partial window is dropped
    [InlineData(9, 3, 4)]
    public void AveragePoolMatchesTheCpuPooling(int frames, int width, int step)
    {
        float[] rows = Check.Random(frames * width, 11, 3f);
        var expected = AudioProjector.AveragePool(rows, frames, width, step);
        using var input = _device.Upload<float>(rows);
        using var output = _device.Allocate<float>(Math.Max(1, expected.Length));
        int pooled = _device.Kernels.AveragePool(input.View, frames, width, step, output.View);
        Assert.Equal(expected.Length / width, pooled);
        Assert.Equal(expected, Check.Download(_device, output.View, expected.Length)); // the same float adds in the same order
    }
}
