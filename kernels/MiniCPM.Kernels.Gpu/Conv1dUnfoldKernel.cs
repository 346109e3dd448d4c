using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="Conv1dUnfoldKernel"/>.</summary>
public struct Conv1dUnfoldArgs
{
    /// <summary>The input signal: value (time t, channel c) at t·TimeStride + c·ChannelStride, so both a channel-major
    /// mel spectrogram [channels, length] and time-major rows [length, channels] are read in place.</summary>
    public ArrayView<float> Input;
    public int TimeStride, ChannelStride, Length, Channels;
    public int Taps, Stride, Padding;
    /// <summary>[steps, RowStride]: RowStride ≥ Channels·Taps; the columns past that are written as 0.</summary>
    public ArrayView<float> Columns;
    public int RowStride;
}

/// <summary>
/// im2col for a 1-D convolution (PyTorch Conv1d: cross-correlation, zero padding), the GPU twin of
/// <see cref="MiniCPM.Kernels.Cpu.Conv1d.Im2Col"/>: columns[t, c·Taps + j] = input[t·Stride + j − Padding, c] (0
/// outside the signal), the order of a [out, in, taps] weight viewed as [out, in·taps], so the convolution is one
/// matrix product. Rows are padded with zeros to whole 32-column units (Whisper's conv1: 80·3 = 240 → 256), which the
/// matrix kernels need. One thread per output value.
/// </summary>
public static class Conv1dUnfoldKernel
{
    public static void Kernel(Index1D index, Conv1dUnfoldArgs a)
    {
        int step = index / a.RowStride, column = index % a.RowStride;
        float value = 0;
        if (column < a.Channels * a.Taps)
        {
            int channel = column / a.Taps, tap = column % a.Taps;
            int time = step * a.Stride + tap - a.Padding;
            if (time >= 0 && time < a.Length) value = a.Input[(long)time * a.TimeStride + (long)channel * a.ChannelStride];
        }
        a.Columns[index] = value;
    }
}
