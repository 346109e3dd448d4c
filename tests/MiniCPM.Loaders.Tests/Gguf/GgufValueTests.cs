using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Loaders.Tests.Gguf;

public class GgufValueTests
{
    [Fact]
    public void IntegerAccessorsConvertAnyIntegerTypeAndCheckRange()
    {
        Assert.Equal(-5, GgufValue.FromInt8(-5).AsInt64());
        Assert.Equal(250, GgufValue.FromUInt8(250).AsInt64());
        Assert.Equal(65535, GgufValue.FromUInt16(65535).AsInt32());
        Assert.Equal(-32768, GgufValue.FromInt16(short.MinValue).AsInt64());
        Assert.Equal(4_000_000_000L, GgufValue.FromUInt32(4_000_000_000).AsInt64());
        Assert.Equal(long.MinValue, GgufValue.FromInt64(long.MinValue).AsInt64());
        Assert.Equal(ulong.MaxValue, GgufValue.FromUInt64(ulong.MaxValue).AsUInt64());
        Assert.Equal(7UL, GgufValue.FromInt32(7).AsUInt64());

        Assert.Throws<OverflowException>(() => GgufValue.FromUInt64(ulong.MaxValue).AsInt64());
        Assert.Throws<OverflowException>(() => GgufValue.FromInt32(-1).AsUInt64());
        Assert.Throws<OverflowException>(() => GgufValue.FromUInt32(4_000_000_000).AsInt32());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromFloat32(1).AsInt64());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromString("1").AsInt64());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromBool(true).AsInt64());
    }

    [Fact]
    public void DoubleAccessorTakesEveryNumericType()
    {
        Assert.Equal(1e-6f, GgufValue.FromFloat32(1e-6f).AsDouble());
        Assert.Equal(0.1, GgufValue.FromFloat64(0.1).AsDouble());
        Assert.Equal(-3.0, GgufValue.FromInt16(-3).AsDouble());
        Assert.Equal(18446744073709551615.0, GgufValue.FromUInt64(ulong.MaxValue).AsDouble());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromBool(false).AsDouble());
    }

    [Fact]
    public void StringBoolAndArrayAccessorsRefuseOtherTypes()
    {
        Assert.Equal("é", GgufValue.FromString("é").AsString());
        Assert.True(GgufValue.FromBool(true).AsBool());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromUInt8(1).AsBool());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromUInt8(1).AsString());

        var ints = GgufValue.FromArray(new[] { 1, 2, 3 });
        Assert.Equal(3, ints.ArrayLength);
        Assert.Equal(GgufValueType.Int32, ints.ElementType);
        Assert.Equal([1, 2, 3], ints.AsArray<int>());
        Assert.Throws<InvalidOperationException>(() => ints.AsArray<uint>()); // exact element type only
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromInt32(1).AsSpan<int>());
        Assert.Null(GgufValue.FromInt32(1).ElementType);
    }

    [Fact]
    public void ValuesAreImmutableCopies()
    {
        var source = new float[] { 1, 2 };
        var value = GgufValue.FromArray(source);
        source[0] = 99;
        var copy = value.AsArray<float>();
        copy[1] = 42;
        Assert.Equal([1f, 2f], value.AsArray<float>());
    }

    [Fact]
    public void EqualityComparesTypeAndBitsNotJustNumbers()
    {
        Assert.Equal(GgufValue.FromUInt32(5), GgufValue.FromUInt32(5));
        Assert.NotEqual(GgufValue.FromUInt32(5), GgufValue.FromInt32(5));
        Assert.Equal(GgufValue.FromFloat32(float.NaN), GgufValue.FromFloat32(float.NaN));
        Assert.NotEqual(GgufValue.FromFloat64(0.0), GgufValue.FromFloat64(-0.0));
        Assert.Equal(GgufValue.FromArray(new[] { "a", "b" }), GgufValue.FromArray(new[] { "a", "b" }));
        Assert.NotEqual(GgufValue.FromArray(new[] { "a", "b" }), GgufValue.FromArray(new[] { "a", "c" }));
        Assert.NotEqual(GgufValue.FromArray(new byte[] { 1 }), GgufValue.FromArray(new sbyte[] { 1 }));
        Assert.NotEqual(GgufValue.FromArray(new byte[] { 1 }), GgufValue.FromArray(new byte[] { 1, 0 }));
        var nested1 = GgufValue.FromArray([GgufValue.FromArray(new[] { 1 }), GgufValue.FromArray(new[] { "x" })]);
        var nested2 = GgufValue.FromArray([GgufValue.FromArray(new[] { 1 }), GgufValue.FromArray(new[] { "x" })]);
        var nested3 = GgufValue.FromArray([GgufValue.FromArray(new[] { 2 }), GgufValue.FromArray(new[] { "x" })]);
        Assert.Equal(nested1, nested2);
        Assert.Equal(nested1.GetHashCode(), nested2.GetHashCode());
        Assert.NotEqual(nested1, nested3);
        Assert.True(nested1 == nested2);
        Assert.True(nested1 != nested3);
    }

    [Fact]
    public void FactoriesRejectWhatCannotBeWritten()
    {
        Assert.Throws<ArgumentException>(() => GgufValue.FromString("bad \ud800 surrogate"));
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray(new[] { "ok", null! }));
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray([GgufValue.FromUInt8(1)])); // nested elements must be arrays

        var deepest = GgufValue.FromArray(new[] { 1 });
        for (int depth = 2; depth <= GgufValue.MaxArrayDepth; depth++) deepest = GgufValue.FromArray([deepest]);
        Assert.Equal(GgufValue.MaxArrayDepth, deepest.ArrayDepth);
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray([deepest]));
    }

    [Fact]
    public void ToStringIsShortAndSummarisesArrays()
    {
        Assert.Equal("u32 28", GgufValue.FromUInt32(28).ToString());
        Assert.Equal("i32 -3", GgufValue.FromInt32(-3).ToString());
        Assert.Equal("u64 18446744073709551615", GgufValue.FromUInt64(ulong.MaxValue).ToString());
        Assert.Equal("f32 1E-06", GgufValue.FromFloat32(1e-6f).ToString());
        Assert.Equal("bool true", GgufValue.FromBool(true).ToString());
        Assert.Equal("string \"qwen2\"", GgufValue.FromString("qwen2").ToString());
        Assert.Equal("string \"a\\nb\"", GgufValue.FromString("a\nb").ToString());
        Assert.Equal("array<f32>[3] { 0.5, 0.5, 0.5 }", GgufValue.FromArray(new[] { 0.5f, 0.5f, 0.5f }).ToString());
        Assert.Equal("array<string>[6] { \"!\", \"\\\"\", \"#\", \"$\", … }",
            GgufValue.FromArray(new[] { "!", "\"", "#", "$", "%", "&" }).ToString());
        Assert.Equal("array<i32>[0]", GgufValue.FromArray(Array.Empty<int>()).ToString());
        Assert.Equal("array<array>[1] { array<u8>[2] }", GgufValue.FromArray([GgufValue.FromArray(new byte[] { 1, 2 })]).ToString());

        var longText = GgufValue.FromString(new string('x', 500)).ToString();
        Assert.True(longText.Length < 80, longText);
        Assert.EndsWith("…\"", longText);
    }
}
