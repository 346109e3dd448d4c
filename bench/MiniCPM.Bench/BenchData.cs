using System.Runtime.InteropServices;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>Native, 64-byte-aligned buffers of weights with a realistic spread (N(0, 0.02), like trained LLM weights).</summary>
internal sealed unsafe class NativeWeights : IDisposable
{
    public NativeWeights(TensorType type, int rows, int cols, int seed = 1)
    {
        long bytes = (long)type.RowBytes(cols)!.Value * rows;
        Data = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        Matrix = WeightMatrix.Contiguous(type, Data, rows, cols);
        var random = new Random(seed);
        if (type.BlockElements() == 256)
        {
            // No K-quant quantizer here: random bytes are valid blocks; the f16 scales are set to sane finite values.
            long total = (long)type.RowBytes(cols)!.Value * rows;
            random.NextBytes(new Span<byte>(Data, checked((int)total)));
            int size = type.BlockBytes();
            for (long offset = 0; offset < total; offset += size)
            {
                byte* block = Data + offset;
                switch (type)
                {
                    case TensorType.Q2_K: *(Half*)(block + 80) = (Half)2e-3f; *(Half*)(block + 82) = (Half)1e-3f; break;
                    case TensorType.Q3_K: *(Half*)(block + 108) = (Half)3e-4f; break;
                    case TensorType.Q4_K: *(Half*)block = (Half)1e-4f; *(Half*)(block + 2) = (Half)5e-4f; break;
                    case TensorType.Q5_K: *(Half*)block = (Half)5e-5f; *(Half*)(block + 2) = (Half)5e-4f; break;
                    case TensorType.Q6_K: *(Half*)(block + 208) = (Half)2e-5f; break;
                }
            }
            return;
        }
        if (type.IsQuantized())
        {
            // Block formats: quantize each row of random floats the way the GGUF writer does.
            long rowBytes = type.RowBytes(cols)!.Value;
            var values = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < cols; c++) values[c] = (float)(0.02 * Gaussian(random));
                BlockQuantizer.Quantize(type, values, new Span<byte>(Data + r * rowBytes, (int)rowBytes));
            }
            return;
        }
        long count = (long)rows * cols;
        for (long i = 0; i < count; i++)
        {
            float value = (float)(0.02 * Gaussian(random));
            switch (type)
            {
                case TensorType.F32: ((float*)Data)[i] = value; break;
                case TensorType.F16: ((Half*)Data)[i] = (Half)value; break;
                case TensorType.BF16: ((ushort*)Data)[i] = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16); break;
                default: throw new NotSupportedException(type.ToString());
            }
        }
    }

    public byte* Data { get; private set; }
    public WeightMatrix Matrix { get; }

    public static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    public void Dispose()
    {
        if (Data != null) NativeMemory.AlignedFree(Data);
        Data = null;
    }
}

/// <summary>The matrix shapes of the issue, as [out, in] (rows × cols): Qwen2-0.5B's MLP and Qwen2-7B's up/gate.</summary>
internal static class Shapes
{
    public static readonly string[] All = ["896x4864", "4864x896", "3584x18944"];

    public static (int Rows, int Cols) Parse(string shape)
    {
        string[] parts = shape.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}
