using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>Random float matrices filled on the device (each with the next seed) and constant vectors: an encoder of any
/// shape without a file, for benchmarks.</summary>
internal sealed class RandomDeviceWeights
{
    private readonly GpuDevice _device;
    private readonly TensorType _type;
    private uint _next;

    public RandomDeviceWeights(GpuDevice device, TensorType type, uint seed)
    {
        if (type is not (TensorType.F32 or TensorType.F16 or TensorType.BF16))
            throw new ArgumentException($"random encoder weights are F32, F16 or BF16, not {type}", nameof(type));
        _device = device;
        _type = type;
        _next = seed;
    }

    public GpuMatrix Matrix(int rows, int cols)
    {
        var m = GpuMatrix.Allocate(_device, _type, rows, cols);
        m.Randomize(_device, _next++ * 2654435761u);
        return m;
    }

    public Buffer Filled(int length, float value)
    {
        var values = new float[length];
        Array.Fill(values, value);
        return _device.Upload<float>(values);
    }

    public FusedLinear Linear(int rows, int cols, bool bias = true) => new([(Matrix(rows, cols), 0)], bias ? Filled(rows, 0) : null);
}
