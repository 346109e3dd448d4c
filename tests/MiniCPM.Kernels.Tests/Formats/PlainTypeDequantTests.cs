using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Formats;

public class PlainTypeDequantTests
{
    private static float[] Convert(TensorType type, byte[] data) => BlockBytes.Dequantize(type, data);

    [Fact]
    public void F32_is_copied_bit_for_bit()
    {
        uint[] patterns = [0x3F80_0000, 0xC2F6_E979, 0x0000_0001, 0x7F80_0000, 0x7FC0_1234, 0x8000_0000];
        var data = new byte[patterns.Length * 4];
        for (int i = 0; i < patterns.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4 * i), patterns[i]);
        float[] y = Convert(TensorType.F32, data);
        for (int i = 0; i < patterns.Length; i++) Assert.Equal(patterns[i], BitConverter.SingleToUInt32Bits(y[i]));
    }

    [Fact]
    public void F16_and_BF16_widen_exactly()
    {
        byte[] f16 = [0x00, 0x3C, 0x01, 0x00, 0xFF, 0xFB, 0x00, 0x7C]; // 1, 2^-24, -65504, +inf
        Assert.Equal([1f, (float)BlockBytes.Tiny, -65504f, float.PositiveInfinity], Convert(TensorType.F16, f16));

        byte[] bf16 = [0x80, 0x3F, 0x40, 0xC0, 0x49, 0x40]; // 1, -3, 0x4049 = 3.140625
        Assert.Equal([1f, -3f, 3.140625f], Convert(TensorType.BF16, bf16));
    }

    [Fact]
    public void F64_rounds_to_nearest_float()
    {
        double[] values = [1.5, -1e-3, 1.0 + Math.Pow(2, -24), 1.0 + 3 * Math.Pow(2, -24), 1e300];
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), values[i]);
        float[] y = Convert(TensorType.F64, data);
        Assert.Equal(1.5f, y[0]);
        Assert.Equal(-1e-3f, y[1]);
        Assert.Equal(1f, y[2]);                                         // tie → even mantissa
        Assert.Equal(1f + 2 * MathF.Pow(2, -23), y[3]);                 // tie → even mantissa (up)
        Assert.Equal(float.PositiveInfinity, y[4]);
    }

    [Fact]
    public void Integers_convert_by_value_with_sign_and_width()
    {
        Assert.Equal([-128f, 127f, -1f], Convert(TensorType.I8, [0x80, 0x7F, 0xFF]));
        Assert.Equal([128f, 127f, 255f], Convert(TensorType.U8, [0x80, 0x7F, 0xFF]));
        Assert.Equal([-32768f, 258f], Convert(TensorType.I16, [0x00, 0x80, 0x02, 0x01]));
        Assert.Equal([32768f, 258f], Convert(TensorType.U16, [0x00, 0x80, 0x02, 0x01]));
        Assert.Equal([-2147483648f, 16777216f], Convert(TensorType.I32, [0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x01]));
        Assert.Equal([2147483648f, 65536f], Convert(TensorType.U32, [0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x01, 0x00]));

        var i64 = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(i64, long.MinValue);
        BinaryPrimitives.WriteInt64LittleEndian(i64.AsSpan(8), -5);
        Assert.Equal([-9.223372036854775808e18f, -5f], Convert(TensorType.I64, i64));

        var u64 = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(u64, ulong.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(u64.AsSpan(8), 1UL << 40);
        Assert.Equal([1.8446744073709552e19f, 1099511627776f], Convert(TensorType.U64, u64));
    }

    [Fact]
    public void Bool_is_zero_or_one()
    {
        Assert.Equal([0f, 1f, 1f], Convert(TensorType.Bool, [0, 1, 7]));
    }
}
