using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;
using static MiniCPM.Loaders.Tests.Safetensors.SafetensorsTestFiles;

namespace MiniCPM.Loaders.Tests.Safetensors;

public class SafetensorsRoundTripTests
{
    // The spec's dtype strings and element sizes, written out here rather than taken from the reader.
    private static readonly (TensorType Type, string Dtype, int Size)[] AllDtypes =
    [
        (TensorType.F64, "F64", 8), (TensorType.F32, "F32", 4), (TensorType.F16, "F16", 2), (TensorType.BF16, "BF16", 2),
        (TensorType.I64, "I64", 8), (TensorType.I32, "I32", 4), (TensorType.I16, "I16", 2), (TensorType.I8, "I8", 1),
        (TensorType.U8, "U8", 1), (TensorType.Bool, "BOOL", 1), (TensorType.U16, "U16", 2), (TensorType.U32, "U32", 4),
        (TensorType.U64, "U64", 8),
    ];

    [Fact]
    public void Every_dtype_round_trips_with_metadata_and_bytes()
    {
        var random = new Random(7);
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        writer.AddMetadata("note", "ünïcode + \"quotes\"");
        var written = new List<(string Name, TensorType Type, long[] Shape, byte[] Bytes)>();
        foreach (var (type, dtype, size) in AllDtypes)
        {
            foreach (long[] shape in new[] { new long[] { 3, 5 }, [], [0, 4] })
            {
                var bytes = new byte[shape.Aggregate(1L, (a, b) => a * b) * size];
                random.NextBytes(bytes);
                string name = $"t.{dtype}.r{shape.Length}.{string.Join("x", shape)}";
                writer.AddTensor(name, type, shape, bytes);
                written.Add((name, type, shape, bytes));
            }
        }

        using var folder = new TempFolder();
        string path = folder.File("all.safetensors");
        writer.Write(path);

        using var st = SafetensorsFile.Open(path);
        Assert.Equal(writer.Metadata, st.Metadata);
        Assert.Equal(0, st.DataStart % 8);
        Assert.Equal(written.Count, st.Tensors.Count);
        foreach (var (name, type, shape, bytes) in written)
        {
            var tensor = st.Find(name)!;
            Assert.Equal(type, tensor.Type);
            Assert.Equal(shape, tensor.Shape);
            Assert.Equal(bytes, st.GetData(tensor).AsSpan().ToArray());
        }
        // Insertion order is file order (empty tensors tie on offset with their neighbour, so compare non-empty ones).
        Assert.Equal(written.Where(w => w.Bytes.Length > 0).Select(w => w.Name),
            st.Tensors.Where(t => t.ByteLength > 0).Select(t => t.Name));

        // The header itself, read as plain JSON: the spec's dtype strings and padding with spaces only.
        var raw = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(raw);
        string header = Encoding.UTF8.GetString(raw, 8, (int)n);
        Assert.Equal(header.TrimEnd(' ').Length, header.TrimEnd().Length);
        Assert.True(header.Length - header.TrimEnd(' ').Length < 8);
        using var json = JsonDocument.Parse(header);
        foreach (var (name, type, _, _) in written)
            Assert.Equal(AllDtypes.Single(d => d.Type == type).Dtype, json.RootElement.GetProperty(name).GetProperty("dtype").GetString());
    }

    [Fact]
    public void Hand_laid_out_file_is_read_exactly()
    {
        // Header in an order different from the data order, not padded (N = 141, so the data start 149 is not 8-aligned:
        // readers must not require the padding that writers add).
        const string header = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[8,12]}," +
                              "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}";
        byte[] data =
        [
            0x00, 0x00, 0xC0, 0x3F, // a[0] = 1.5f   (0x3FC00000)
            0x00, 0x00, 0x00, 0xC0, // a[1] = -2.0f  (0xC0000000)
            0x02, 0x01,             // b[0] = 258    (0x0102)
            0xFF, 0xFF,             // b[1] = -1
        ];
        byte[] file = Raw(header, data);

        using var folder = new TempFolder();
        File.WriteAllBytes(folder.File("hand.safetensors"), file);
        using var st = SafetensorsFile.Open(folder.File("hand.safetensors"));

        Assert.Equal(header.Length, st.HeaderLength);
        Assert.Equal(149, st.DataStart);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, st.Metadata);
        Assert.Equal(["a", "b"], st.Tensors.Select(t => t.Name));

        var a = st.Tensors[0];
        Assert.Equal(TensorType.F32, a.Type);
        Assert.Equal([1L, 2L], a.Shape);
        Assert.Equal(8 + header.Length, a.FileOffset);
        var aBytes = st.GetData(a).AsSpan();
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(aBytes));
        Assert.Equal(-2.0f, BinaryPrimitives.ReadSingleLittleEndian(aBytes[4..]));

        var b = st.Find("b")!;
        Assert.Equal(TensorType.I16, b.Type);
        Assert.Equal(8 + header.Length + 8, b.FileOffset);
        var bBytes = st.GetData(b).AsSpan();
        Assert.Equal((short)258, BinaryPrimitives.ReadInt16LittleEndian(bBytes));
        Assert.Equal((short)-1, BinaryPrimitives.ReadInt16LittleEndian(bBytes[2..]));

        Assert.Null(st.Find("c"));
        Assert.Throws<ArgumentException>(() => st.GetData(a with { Name = "b" }));
    }

    [Fact]
    public void Header_with_no_tensors_and_only_padding_is_valid()
    {
        using var st = SafetensorsFile.OpenBytes("empty", Raw("{}      ", 0));
        Assert.Empty(st.Tensors);
        Assert.Empty(st.Metadata);
        Assert.Equal(16, st.DataStart);
    }

    [Fact]
    public void Callback_source_is_streamed_and_checked()
    {
        using var folder = new TempFolder();
        var writer = new SafetensorsWriter();
        writer.AddTensor("ramp", TensorType.U8, [4, 64], stream =>
        {
            for (int row = 0; row < 4; row++) stream.Write(Enumerable.Range(0, 64).Select(i => (byte)(row * 64 + i)).ToArray());
        });
        writer.Write(folder.File("ok.safetensors"));
        using (var st = SafetensorsFile.Open(folder.File("ok.safetensors")))
            Assert.Equal(Enumerable.Range(0, 256).Select(i => (byte)i), st.GetData(st.Tensors[0]).AsSpan().ToArray());

        var bad = new SafetensorsWriter();
        bad.AddTensor("short", TensorType.F32, [4], stream => stream.Write(new byte[15]));
        var e = Assert.Throws<InvalidOperationException>(() => bad.Write(folder.File("bad.safetensors")));
        Assert.Contains("'short'", e.Message);
        Assert.False(File.Exists(folder.File("bad.safetensors")));
        Assert.False(File.Exists(folder.File("bad.safetensors.partial")));
    }

    [Fact]
    public void Writer_rejects_invalid_tensors()
    {
        var writer = new SafetensorsWriter();
        writer.AddTensor("x", TensorType.F32, [2], new byte[8]);
        Assert.Throws<ArgumentException>(() => writer.AddTensor("x", TensorType.F32, [2], new byte[8]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("y", TensorType.F32, [2], new byte[7]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("q", TensorType.Q4_0, [32], new byte[18]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("__metadata__", TensorType.U8, [1], new byte[1]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("n", TensorType.U8, [-1], ReadOnlyMemory<byte>.Empty));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("", TensorType.U8, [1], new byte[1]));
        writer.AddMetadata("k", "v");
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("k", "w"));
    }
}
