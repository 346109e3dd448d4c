using MiniCPM.Loaders.Safetensors;
using static MiniCPM.Loaders.Tests.Safetensors.SafetensorsTestFiles;

namespace MiniCPM.Loaders.Tests.Safetensors;

/// <summary>Each malformed or hostile file fails with a <see cref="ModelFormatException"/> that says what and where.</summary>
public class SafetensorsBadInputTests
{
    private const string Name = "bad.safetensors";

    private static ModelFormatException Bad(byte[] file, params string[] fragments)
    {
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.OpenBytes(Name, file).Dispose());
        Assert.Equal(Name, e.FilePath);
        Assert.StartsWith(Name, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    private static string Header(params string[] entries) => "{" + string.Join(",", entries) + "}";

    [Fact]
    public void Files_shorter_than_the_length_field()
    {
        Bad([], "too short");
        Bad([1, 0, 0, 0, 0], "too short");
    }

    [Fact]
    public void Truncated_file_on_disk()
    {
        using var folder = new TempFolder();
        var full = Raw(Header(Entry("w", "F32", "[4]", 0, 16)), 16);
        File.WriteAllBytes(folder.File(Name), full[..^3]);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(folder.File(Name)));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("past the end", e.Message);

        File.WriteAllBytes(folder.File(Name), []);
        Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(folder.File(Name)));
        Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(folder.File("missing.safetensors")));
    }

    [Fact]
    public void Header_length_over_the_limit_or_past_the_file()
    {
        Assert.Equal(0, Bad(Raw("{}", 0, declaredLength: 100_000_001), "exceeds").Offset);
        Bad(Raw("{}", 0, declaredLength: ulong.MaxValue), "exceeds");
        Bad(Raw("{}", 0, declaredLength: 3), "past the end");
        Bad(Raw("{}", 0, declaredLength: 99_999_999), "past the end");
    }

    [Fact]
    public void Header_that_is_not_a_JSON_object()
    {
        Bad(Raw("hello world", 0), "must start with '{'");
        Bad(Raw("[1,2]", 0), "must start with '{'");
        Bad(Raw("\"abc\"", 0), "must start with '{'");
        Bad(Raw("", 0), "must start with '{'");
        Bad(Raw("{not json}", 0), "not valid JSON");
        Bad(Raw("{\"__metadata__\":{\"a\":\"1\",}}", 0), "not valid JSON");
        Bad(Raw("{} trailing", 0), "not valid JSON");
        Bad(Raw("{", 0), "not valid JSON");
        Bad(Raw("{\"a\":1}", 0), "tensor 'a'", "must be an object");
        var invalidUtf8 = Raw("{\"\u00e9\":1}", 0);
        invalidUtf8[10] = 0xFF; // breaks the two-byte sequence of 'é'
        Bad(invalidUtf8);
    }

    [Fact]
    public void Deeply_nested_JSON_bomb_is_a_format_error()
    {
        const int depth = 200_000;
        Bad(Raw("{\"a\":" + string.Concat(Enumerable.Repeat("{\"k\":", depth)) + "1" + new string('}', depth + 1), 0), "not valid JSON");
        Bad(Raw("{\"__metadata__\":" + string.Concat(Enumerable.Repeat("{\"k\":", depth)) + "1" + new string('}', depth + 1), 0));
        // Nesting inside an ignored unknown field of an entry is bounded too.
        Bad(Raw("{\"t\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1],\"x\":" + new string('[', depth) + new string(']', depth) + "}}", 1),
            "not valid JSON");
    }

    [Fact]
    public void Huge_shape_array_stops_at_the_rank_limit()
    {
        string shape = "[" + string.Join(",", Enumerable.Repeat("1", 1_000_000)) + "]";
        Bad(Raw(Header(Entry("big", "U8", shape, 0, 1)), 1), "tensor 'big'", "more than 64");
    }

    [Fact]
    public void Bad_dtypes()
    {
        Bad(Raw(Header(Entry("f8", "F8_E4M3", "[2]", 0, 2)), 2), "tensor 'f8'", "'F8_E4M3' is not supported");
        Bad(Raw(Header(Entry("f8", "F8_E5M2", "[2]", 0, 2)), 2), "'F8_E5M2' is not supported");
        Bad(Raw(Header(Entry("q", "Q4_0", "[2]", 0, 2)), 2), "tensor 'q'", "unknown dtype 'Q4_0'");
        Bad(Raw(Header(Entry("lower", "f32", "[1]", 0, 4)), 4), "unknown dtype 'f32'");
        Bad(Raw("{\"n\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "tensor 'n'", "'dtype' must be a string");
    }

    [Fact]
    public void Bad_shapes()
    {
        Bad(Raw(Header(Entry("neg", "F32", "[-1]", 0, 4)), 4), "tensor 'neg'", "non-negative integers");
        Bad(Raw(Header(Entry("frac", "F32", "[1.5]", 0, 4)), 4), "non-negative integers");
        Bad(Raw(Header(Entry("str", "F32", "[\"2\"]", 0, 8)), 8), "non-negative integers");
        Bad(Raw(Header(Entry("big", "F32", "[18446744073709551615]", 0, 4)), 4), "non-negative integers");
        Bad(Raw(Header(Entry("huge", "F32", "[4294967296,4294967296,4]", 0, 4)), 4), "tensor 'huge'", "overflows");
        Bad(Raw(Header(Entry("huge", "U8", "[9223372036854775807,2]", 0, 4)), 4), "overflows");
        Bad(Raw("{\"s\":{\"dtype\":\"U8\",\"shape\":7,\"data_offsets\":[0,1]}}", 1), "'shape' must be an array");
    }

    [Fact]
    public void Offsets_that_do_not_fit_the_data()
    {
        var past = Bad(Raw(Header(Entry("w", "F32", "[4]", 0, 16)), 12), "tensor 'w'", "past the end");
        Assert.NotNull(past.Offset);
        Bad(Raw(Header(Entry("w", "F32", "[4]", 0, 12)), 12), "tensor 'w'", "hold 12 bytes", "needs 16");
        Bad(Raw(Header(Entry("w", "F32", "[1]", 8, 4)), 8), "tensor 'w'", "end before they begin");
        Bad(Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1), "[begin, end]");
        Bad(Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1), "more than 2");
        Bad(Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1), "non-negative");
    }

    [Fact]
    public void Overlap_hole_and_trailing_bytes()
    {
        string overlapping = Header(Entry("a", "F32", "[2]", 0, 8), Entry("b", "F32", "[2]", 4, 12));
        var overlap = Bad(Raw(overlapping, 12), "tensor 'b'", "overlaps tensor 'a'");
        Assert.Equal(8 + overlapping.Length + 4, overlap.Offset); // absolute file offset of b's first byte
        Bad(Raw(Header(Entry("a", "F32", "[1]", 0, 4), Entry("b", "F32", "[1]", 8, 12)), 12), "tensor 'b'", "4 unused bytes");
        Bad(Raw(Header(Entry("a", "F32", "[1]", 4, 8)), 8), "tensor 'a'", "4 unused bytes");
        Bad(Raw(Header(Entry("a", "F32", "[1]", 0, 4)), 6), "2 trailing bytes");
        Bad(Raw("{}", 1), "1 trailing bytes");
        // Exact duplicates of a range are overlaps too, not just shifted ones.
        Bad(Raw(Header(Entry("a", "F32", "[1]", 0, 4), Entry("b", "F32", "[1]", 0, 4)), 4), "overlaps");
    }

    [Fact]
    public void Structural_errors_in_entries_and_metadata()
    {
        Bad(Raw("{" + Entry("a", "U8", "[1]", 0, 1) + "," + Entry("a", "U8", "[1]", 1, 2) + "}", 2), "tensor 'a'", "duplicate tensor name");
        Bad(Raw("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "duplicate 'dtype'");
        Bad(Raw("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "tensor 'a'", "no 'dtype'");
        Bad(Raw("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1), "no 'shape'");
        Bad(Raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1), "no 'data_offsets'");
        Bad(Raw("{\"__metadata__\":{\"format\":1}}", 0), "must be a string");
        Bad(Raw("{\"__metadata__\":[\"pt\"]}", 0), "must be an object");
        Bad(Raw("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0), "duplicate '__metadata__' key 'k'");
        Bad(Raw("{\"__metadata__\":{},\"__metadata__\":{}}", 0), "duplicate '__metadata__'");
    }

    [Fact]
    public void Tolerated_variations_still_open()
    {
        // Null metadata, unknown fields (ignored like the reference library), a zero-size tensor next to a real one.
        string header = "{\"__metadata__\":null,\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0],\"extra\":{\"x\":[1,2]}}," +
                        Entry("a", "U8", "[2]", 0, 2) + "}   \n";
        using var st = SafetensorsFile.OpenBytes(Name, Raw(header, 2));
        Assert.Equal(["z", "a"], st.Tensors.Select(t => t.Name)); // file order: [0,0) sorts before [0,2)
        Assert.Equal(0, st.Find("z")!.ByteLength);
        Assert.Empty(st.Metadata);
    }
}
