using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders;

/// <summary>
/// One tensor of a file. <see cref="Shape"/> is in row-major order, outermost dimension first (PyTorch order);
/// GGUF's ne order is reversed into it. <see cref="FileOffset"/> is absolute within the file.
/// </summary>
public sealed record TensorInfo(string Name, TensorType Type, long[] Shape, long FileOffset, long ByteLength)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
