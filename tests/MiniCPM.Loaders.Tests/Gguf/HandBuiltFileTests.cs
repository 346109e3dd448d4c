using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Tests.Gguf.Builders;

namespace MiniCPM.Loaders.Tests.Gguf;

/// <summary>The reader against files laid out byte by byte from the spec, and the writer against the same bytes.</summary>
public class HandBuiltFileTests
{
    private static readonly float[] TensorAValues = [1, 2, 3, 4, 5, 6];

    /// <summary>One Q8_0 block: f16 scale 0.5 (0x3800) then 32 int8 quants -16..15.</summary>
    private static byte[] Q8Block()
    {
        var block = new byte[34];
        block[0] = 0x00;
        block[1] = 0x38;
        for (int i = 0; i < 32; i++) block[2 + i] = (byte)(sbyte)(i - 16);
        return block;
    }

    private static byte[] FloatBytes(float[] values)
    {
        var bytes = new GgufBytes();
        foreach (var v in values) bytes.F32(v);
        return bytes.ToArray();
    }

    /// <summary>
    /// Two KVs, tensor "a" F32 with ne [3, 2] at offset 0 (24 bytes), tensor "b" Q8_0 with ne [32] at offset 32
    /// (34 bytes), default alignment 32, each tensor zero-padded to 32.
    /// </summary>
    private static (byte[] File, int DataStart) MinimalFile(uint version)
    {
        var b = GgufBytes.Header(version, tensorCount: 2, keyValueCount: 2)
            .KvString("general.architecture", "toy")
            .KvU32("toy.block_count", 7)
            .TensorInfo("a", [3, 2], ggmlType: 0, offset: 0)
            .TensorInfo("b", [32], ggmlType: 8, offset: 32)
            .PadTo(32);
        int dataStart = b.Length;
        b.Raw(FloatBytes(TensorAValues)).PadTo(32).Raw(Q8Block()).PadTo(32);
        return (b.ToArray(), dataStart);
    }

    [Theory]
    [InlineData(3u)]
    [InlineData(2u)]
    public void ReadsAMinimalHandBuiltFile(uint version)
    {
        var (bytes, dataStart) = MinimalFile(version);
        using var file = GgufFile.FromBytes(bytes, "minimal.gguf");

        Assert.Equal(version, file.Version);
        Assert.Equal(32, file.Alignment);
        Assert.Equal(dataStart, file.DataStart);
        Assert.Equal(0, file.DataStart % 32);

        Assert.Equal(["general.architecture", "toy.block_count"], file.Metadata.Select(kv => kv.Key));
        Assert.Equal("toy", file.Get("general.architecture")!.AsString());
        Assert.Equal("toy", file.Architecture);
        Assert.Equal(GgufValueType.UInt32, file.Get("toy.block_count")!.Type);
        Assert.Equal(7, file.Require("toy.block_count", v => v.AsInt32()));
        Assert.Null(file.Get("missing"));

        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
        var a = file.Find("a")!;
        Assert.Equal(TensorType.F32, a.Type);
        Assert.Equal([2L, 3L], a.Shape); // ne [3, 2] reversed: 2 rows of 3
        Assert.Equal(dataStart, a.FileOffset);
        Assert.Equal(24, a.ByteLength);
        Assert.Equal(FloatBytes(TensorAValues), file.GetData(a).AsSpan().ToArray());

        var b = file.Find("b")!;
        Assert.Equal(TensorType.Q8_0, b.Type);
        Assert.Equal([32L], b.Shape);
        Assert.Equal(dataStart + 32, b.FileOffset);
        Assert.Equal(Q8Block(), file.GetData(b).AsSpan().ToArray());
    }

    [Fact]
    public void WriterProducesTheHandBuiltBytes()
    {
        var writer = new GgufWriter()
            .AddMetadata("general.architecture", GgufValue.FromString("toy"))
            .AddMetadata("toy.block_count", GgufValue.FromUInt32(7))
            .AddTensor("a", TensorType.F32, [2, 3], FloatBytes(TensorAValues))
            .AddTensor("b", TensorType.Q8_0, [32], Q8Block());
        using var output = new MemoryStream();
        writer.WriteTo(output);

        Assert.Equal(MinimalFile(version: 3).File, output.ToArray());
    }

    [Fact]
    public void ReadsAFileWithNoTensorsAndNoPadding()
    {
        // ggml only seeks to the aligned data start, so a tensor-less file may end right after its metadata.
        var bytes = GgufBytes.Header(3, 0, 1).KvU32("k", 1).ToArray();
        using var file = GgufFile.FromBytes(bytes, "empty.gguf");
        Assert.Empty(file.Tensors);
        Assert.Equal((bytes.Length + 31) / 32 * 32, file.DataStart);
    }

    [Fact]
    public void ReadsAScalarTensorWithZeroDimensions()
    {
        var bytes = GgufBytes.Header(3, 1, 0).TensorInfo("s", [], ggmlType: 0, offset: 0).PadTo(32).F32(2.5f).ToArray();
        using var file = GgufFile.FromBytes(bytes, "scalar.gguf");
        var s = file.Tensors.Single();
        Assert.Empty(s.Shape);
        Assert.Equal(4, s.ByteLength);
        Assert.Equal(2.5f, BitConverter.ToSingle(file.GetData(s).AsSpan()));
    }

    [Fact]
    public void OpensFromDiskThroughTheMemoryMap()
    {
        var path = Path.Combine(Path.GetTempPath(), $"minicpm-gguf-{Guid.NewGuid():N}.gguf");
        try
        {
            File.WriteAllBytes(path, MinimalFile(3).File);
            using var file = GgufFile.Open(path);
            Assert.Equal(path, file.SourcePath);
            Assert.Equal(Q8Block(), file.GetData(file.Find("b")!).AsSpan().ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void GetDataRefusesTensorsOfAnotherFileAndUseAfterDispose()
    {
        var (bytes, _) = MinimalFile(3);
        var file = GgufFile.FromBytes(bytes, "minimal.gguf");
        var stranger = new TensorInfo("a", TensorType.F32, [2, 3], 0, 24);
        Assert.Throws<ArgumentException>(() => file.GetData(stranger));
        var a = file.Find("a")!;
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.GetData(a));
    }

    [Fact]
    public void RequireNamesMissingAndMistypedKeys()
    {
        using var file = GgufFile.FromBytes(MinimalFile(3).File, "minimal.gguf");
        var missing = Assert.Throws<ModelFormatException>(() => file.Require("toy.context_length"));
        Assert.Contains("toy.context_length", missing.Message);
        var mistyped = Assert.Throws<ModelFormatException>(() => file.Require("general.architecture", v => v.AsInt64()));
        Assert.Contains("general.architecture", mistyped.Message);
        Assert.Contains("minimal.gguf", mistyped.Message);
    }
}
