using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Conversion of the plain (one element per "block") dtypes to float32. Integers convert as C# does (exact for
/// |v| ≤ 2^24, round-to-nearest beyond); Bool is 0 or 1.
/// </summary>
internal static class PlainTypes
{
    public static void ToFloat(TensorType type, ReadOnlySpan<byte> source, Span<float> y)
    {
        switch (type)
        {
            case TensorType.F32:
                if (BitConverter.IsLittleEndian)
                    MemoryMarshal.Cast<byte, float>(source).CopyTo(y);
                else
                    for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
                break;
            case TensorType.F16:
                if (BitConverter.IsLittleEndian)
                {
                    ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(source);
                    for (int i = 0; i < y.Length; i++) y[i] = (float)halves[i];
                }
                else
                {
                    for (int i = 0; i < y.Length; i++) y[i] = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]));
                }
                break;
            case TensorType.BF16:
                if (BitConverter.IsLittleEndian)
                {
                    ReadOnlySpan<ushort> words = MemoryMarshal.Cast<byte, ushort>(source);
                    for (int i = 0; i < y.Length; i++) y[i] = Bf16.ToFloat(words[i]);
                }
                else
                {
                    for (int i = 0; i < y.Length; i++) y[i] = Bf16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]));
                }
                break;
            case TensorType.F64:
                for (int i = 0; i < y.Length; i++) y[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source[(8 * i)..]);
                break;
            case TensorType.I8:
                for (int i = 0; i < y.Length; i++) y[i] = (sbyte)source[i];
                break;
            case TensorType.U8:
                for (int i = 0; i < y.Length; i++) y[i] = source[i];
                break;
            case TensorType.Bool:
                for (int i = 0; i < y.Length; i++) y[i] = source[i] != 0 ? 1f : 0f;
                break;
            case TensorType.I16:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadInt16LittleEndian(source[(2 * i)..]);
                break;
            case TensorType.U16:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]);
                break;
            case TensorType.I32:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadInt32LittleEndian(source[(4 * i)..]);
                break;
            case TensorType.U32:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadUInt32LittleEndian(source[(4 * i)..]);
                break;
            case TensorType.I64:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadInt64LittleEndian(source[(8 * i)..]);
                break;
            case TensorType.U64:
                for (int i = 0; i < y.Length; i++) y[i] = BinaryPrimitives.ReadUInt64LittleEndian(source[(8 * i)..]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a plain dtype");
        }
    }

    /// <summary>Encodes float32 values as F32, F16 (ggml rounding) or BF16 (ggml rounding).</summary>
    public static void FromFloat(TensorType type, ReadOnlySpan<float> x, Span<byte> destination)
    {
        switch (type)
        {
            case TensorType.F32:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * i)..], x[i]);
                break;
            case TensorType.F16:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], Fp16.FromFloat(x[i]));
                break;
            case TensorType.BF16:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], Bf16.FromFloat(x[i]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a float dtype that can be written");
        }
    }
}
