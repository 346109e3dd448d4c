using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Formats.Blocks;

namespace MiniCPM.Kernels.Tests.Formats;

/// <summary>Argument checks, supported sets, and agreement between the block codecs and TensorTypeInfo.</summary>
public class FormatContractTests
{
    private static (int Elements, int Bytes) Geometry<T>() where T : struct, IBlockFormat => (T.Elements, T.Bytes);

    [Fact]
    public void Block_codecs_agree_with_TensorTypeInfo()
    {
        (TensorType Type, (int Elements, int Bytes) Codec)[] codecs =
        [
            (TensorType.Q4_0, Geometry<Q4_0Block>()), (TensorType.Q4_1, Geometry<Q4_1Block>()),
            (TensorType.Q5_0, Geometry<Q5_0Block>()), (TensorType.Q5_1, Geometry<Q5_1Block>()),
            (TensorType.Q8_0, Geometry<Q8_0Block>()), (TensorType.Q8_1, Geometry<Q8_1Block>()),
            (TensorType.Q2_K, Geometry<Q2_KBlock>()), (TensorType.Q3_K, Geometry<Q3_KBlock>()),
            (TensorType.Q4_K, Geometry<Q4_KBlock>()), (TensorType.Q5_K, Geometry<Q5_KBlock>()),
            (TensorType.Q6_K, Geometry<Q6_KBlock>()), (TensorType.Q8_K, Geometry<Q8_KBlock>()),
        ];
        foreach (var (type, codec) in codecs)
        {
            Assert.Equal(type.BlockElements(), codec.Elements);
            Assert.Equal(type.BlockBytes(), codec.Bytes);
        }
    }

    [Fact]
    public void Every_TensorType_dequantizes_two_blocks_of_zero_bytes_to_zeros()
    {
        foreach (TensorType type in Enum.GetValues<TensorType>())
        {
            var y = new float[2 * type.BlockElements() + 3];
            Array.Fill(y, float.NaN);
            Dequantizer.ToFloat(type, new byte[2 * type.BlockBytes()], y);
            for (int i = 0; i < 2 * type.BlockElements(); i++) Assert.Equal(0f, y[i]);
            for (int i = 2 * type.BlockElements(); i < y.Length; i++) Assert.True(float.IsNaN(y[i]), $"{type} wrote past its values");
        }
    }

    [Fact]
    public void RowToFloat_matches_ToFloat()
    {
        var row = new byte[3 * 144];
        for (int i = 0; i < row.Length; i++) row[i] = (byte)(i * 131 + 7);
        var a = new float[768];
        var b = new float[768];
        Dequantizer.ToFloat(TensorType.Q4_K, row, a);
        Dequantizer.RowToFloat(TensorType.Q4_K, row, b);
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData(TensorType.Q4_0, 17)]
    [InlineData(TensorType.Q6_K, 211)]
    [InlineData(TensorType.F32, 6)]
    [InlineData(TensorType.F16, 3)]
    public void ToFloat_rejects_partial_blocks(TensorType type, int bytes)
    {
        var e = Assert.Throws<ArgumentException>(() => Dequantizer.ToFloat(type, new byte[bytes], new float[1024]));
        Assert.Equal("source", e.ParamName);
        Assert.Contains("whole number", e.Message);
    }

    [Fact]
    public void ToFloat_rejects_a_short_destination()
    {
        var e = Assert.Throws<ArgumentException>(() => Dequantizer.ToFloat(TensorType.Q8_0, new byte[68], new float[63]));
        Assert.Equal("destination", e.ParamName);
        Assert.Contains("64", e.Message);
    }

    [Fact]
    public void Quantizer_supports_exactly_the_documented_targets()
    {
        TensorType[] supported = [TensorType.F32, TensorType.F16, TensorType.BF16, TensorType.Q4_0, TensorType.Q4_1,
                                  TensorType.Q5_0, TensorType.Q5_1, TensorType.Q8_0, TensorType.Q8_1,
                                  TensorType.Q2_K, TensorType.Q3_K, TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K];
        foreach (TensorType type in Enum.GetValues<TensorType>())
        {
            Assert.Equal(supported.Contains(type), BlockQuantizer.CanQuantize(type));
            if (!supported.Contains(type))
                Assert.Throws<NotSupportedException>(() => BlockQuantizer.Quantize(type, new float[256], new byte[1024]));
        }
    }

    [Fact]
    public void Quantize_rejects_partial_blocks_and_short_destinations()
    {
        var partial = Assert.Throws<ArgumentException>(() => BlockQuantizer.Quantize(TensorType.Q8_0, new float[33], new byte[100]));
        Assert.Equal("source", partial.ParamName);
        var shortDestination = Assert.Throws<ArgumentException>(() => BlockQuantizer.Quantize(TensorType.Q4_0, new float[64], new byte[35]));
        Assert.Equal("destination", shortDestination.ParamName);
        var shortF16 = Assert.Throws<ArgumentException>(() => BlockQuantizer.Quantize(TensorType.F16, new float[3], new byte[5]));
        Assert.Equal("destination", shortF16.ParamName);
    }
}
