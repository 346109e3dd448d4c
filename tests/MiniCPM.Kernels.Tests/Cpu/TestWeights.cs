using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Random weight matrices stored as raw bytes in a given dtype, with each stored weight also kept as the exact double
/// it encodes (decoded independently of the kernels: .NET's Half→double, and bf16 bits placed in a float's top half).
/// </summary>
internal sealed class TestWeights
{
    public TestWeights(TensorType type, int rows, int cols, Random random, int padBytes = 0, double scale = 1)
    {
        Type = type;
        Rows = rows;
        Cols = cols;
        int elementBytes = type.BlockBytes();
        RowStride = (long)cols * elementBytes + padBytes;
        Bytes = new byte[RowStride * rows + 64];
        Exact = new double[rows, cols];
        random.NextBytes(Bytes); // padding holds junk that must never be read
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                float value = (float)(scale * (random.NextDouble() * 2 - 1));
                long offset = r * RowStride + (long)c * elementBytes;
                Exact[r, c] = Store(type, value, Bytes.AsSpan((int)offset, elementBytes));
            }
    }

    public TensorType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowStride { get; }
    public byte[] Bytes { get; }
    public double[,] Exact { get; }

    /// <summary>Writes <paramref name="value"/> rounded to <paramref name="type"/>; returns the stored value exactly.</summary>
    public static double Store(TensorType type, float value, Span<byte> destination)
    {
        switch (type)
        {
            case TensorType.F32:
                BitConverter.TryWriteBytes(destination, value);
                return value;
            case TensorType.F16:
                Half half = (Half)value;
                BitConverter.TryWriteBytes(destination, half);
                return (double)half;
            case TensorType.BF16:
                // Round to nearest even on the dropped 16 bits, as torch does.
                uint bits = BitConverter.SingleToUInt32Bits(value);
                uint rounded = bits + 0x7FFF + ((bits >> 16) & 1);
                ushort top = (ushort)(rounded >> 16);
                BitConverter.TryWriteBytes(destination, top);
                return BitConverter.Int32BitsToSingle(top << 16);
            default:
                throw new NotSupportedException(type.ToString());
        }
    }

    public static float[] RandomVector(Random random, int length, double scale = 1)
    {
        var v = new float[length];
        for (int i = 0; i < length; i++) v[i] = (float)(scale * (random.NextDouble() * 2 - 1));
        return v;
    }
}
