using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>im2col + MatMul against a direct PyTorch-style Conv1d evaluated in double.</summary>
public unsafe class Conv1dTests
{
    [Theory]
    [InlineData(10, 3, 5, 3, 1, 1)]  // Whisper conv1 shape (k3, pad 1)
    [InlineData(10, 5, 4, 3, 2, 1)]  // Whisper conv2 shape (k3, stride 2, pad 1), even length
    [InlineData(11, 5, 4, 3, 2, 1)]  // odd length
    [InlineData(1, 2, 3, 3, 2, 1)]   // one frame
    [InlineData(7, 2, 3, 5, 3, 0)]   // no padding, stride 3
    public void MatchesDirectConvolution(int length, int inChannels, int outChannels, int kernel, int stride, int padding)
    {
        var random = new Random(length * 100 + kernel * 10 + stride);
        float[] input = TestWeights.RandomVector(random, length * inChannels);       // [length, in]
        var weights = new TestWeights(TensorType.F32, outChannels, inChannels * kernel, random); // [out, in·k]
        float[] bias = TestWeights.RandomVector(random, outChannels);

        int steps = Conv1d.OutputLength(length, kernel, stride, padding);
        Assert.Equal((length + 2 * padding - kernel) / stride + 1, steps);
        var columns = new float[steps * inChannels * kernel];
        Conv1d.Im2Col(input, length, inChannels, kernel, stride, padding, columns);
        var actual = new float[steps * outChannels];
        fixed (byte* w = weights.Bytes)
            MatMul.Multiply(new WeightMatrix(TensorType.F32, w, outChannels, inChannels * kernel, weights.RowStride), columns, steps, actual, bias);

        for (int t = 0; t < steps; t++)
            for (int o = 0; o < outChannels; o++)
            {
                double sum = bias[o];
                for (int c = 0; c < inChannels; c++)
                    for (int j = 0; j < kernel; j++)
                    {
                        int source = t * stride + j - padding;
                        if (source >= 0 && source < length) sum += weights.Exact[o, c * kernel + j] * input[source * inChannels + c];
                    }
                Assert.Equal(sum, actual[t * outChannels + o], 1e-5);
            }
    }

    [Fact]
    public void TooShortInputGivesNoSteps()
    {
        Assert.Equal(0, Conv1d.OutputLength(1, 5, 1, 0));
        Assert.Equal(1, Conv1d.OutputLength(1, 3, 2, 1));
        Assert.Equal(2, Conv1d.OutputLength(3, 3, 2, 1));
    }
}
