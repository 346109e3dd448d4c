using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>File-format weight bytes for tests: quantized by the CPU quantizer where one exists (every type the GPU
/// reads today, Q4_1/Q5_0/Q5_1 and Q2_K..Q6_K included), otherwise random K-quant blocks with finite fp16 scales; read back
/// through the CPU dequantizer as the reference.</summary>
internal static class WeightBytes
{
    public static byte[] Random(TensorType type, int rows, int cols, int seed)
    {
        long rowBytes = type.RowBytes(cols)!.Value;
        var bytes = new byte[rowBytes * rows];
        if (BlockQuantizer.CanQuantize(type))
        {
            float[] values = Check.Random(rows * cols, seed);
            for (int r = 0; r < rows; r++)
                BlockQuantizer.Quantize(type, values.AsSpan(r * cols, cols), bytes.AsSpan((int)(r * rowBytes), (int)rowBytes));
            return bytes;
        }

        new Random(seed).NextBytes(bytes);
        int blockBytes = type.BlockBytes();
        for (int b = 0; b < bytes.Length / blockBytes; b++)
        {
            var block = bytes.AsSpan(b * blockBytes, blockBytes);
            switch (type)
            {
                case TensorType.Q4_K:
                    BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(0.01f + 0.001f * (b % 7)));
                    BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromFloat(0.02f - 0.001f * (b % 5)));
                    break;
                case TensorType.Q6_K:
                    BinaryPrimitives.WriteUInt16LittleEndian(block[208..], Fp16.FromFloat(0.003f + 0.0005f * (b % 3)));
                    break;
                default:
                    throw new ArgumentException($"no test bytes for {type}");
            }
        }
        return bytes;
    }
}
