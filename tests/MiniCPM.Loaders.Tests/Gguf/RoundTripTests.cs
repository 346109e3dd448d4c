using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Tests.Gguf.Builders;

namespace MiniCPM.Loaders.Tests.Gguf;

/// <summary>Writer → file on disk → reader gives back the same metadata, shapes, types and bytes.</summary>
public class RoundTripTests
{
    private static GgufFile WriteAndOpen(GgufWriter writer, out string path)
    {
        path = Path.Combine(Path.GetTempPath(), $"minicpm-gguf-{Guid.NewGuid():N}.gguf");
        writer.WriteTo(path);
        return GgufFile.Open(path);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(64u)]
    [InlineData(1u)]
    [InlineData(4096u)]
    public void MetadataAndTensorsSurviveAWriteAndRead(uint? alignment)
    {
        using var file = WriteAndOpen(SampleGguf.Writer(alignment), out var path);
        try
        {
            Assert.Equal(3u, file.Version);
            long expectedAlignment = alignment ?? 32;
            Assert.Equal(expectedAlignment, file.Alignment);
            Assert.Equal(0, file.DataStart % expectedAlignment);

            var expected = SampleGguf.EveryValueType();
            if (alignment is { } a) expected.Insert(0, new("general.alignment", GgufValue.FromUInt32(a)));
            Assert.Equal(expected.Count, file.Metadata.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Key, file.Metadata[i].Key);
                Assert.True(expected[i].Value.Equals(file.Metadata[i].Value), $"{expected[i].Key}: wrote {expected[i].Value}, read {file.Metadata[i].Value}");
            }
            Assert.Equal("naïve — 東京 🚀 \u0000 end", file.Get("test.string_unicode")!.AsString());
            Assert.Equal("東京", file.Get("tokenizer.ggml.tokens")!.AsSpan<string>()[3]);
            Assert.Equal(2.5, file.Get("test.arr_nested")!.AsSpan<GgufValue>()[3].AsSpan<GgufValue>()[0].AsSpan<double>()[0]);

            Assert.Equal(SampleGguf.Tensors.Select(t => t.Name), file.Tensors.Select(t => t.Name));
            for (int i = 0; i < SampleGguf.Tensors.Length; i++)
            {
                var (name, type, shape) = SampleGguf.Tensors[i];
                var tensor = file.Tensors[i];
                Assert.Equal(type, tensor.Type);
                Assert.Equal(shape, tensor.Shape);
                Assert.Equal(0, (tensor.FileOffset - file.DataStart) % expectedAlignment);
                var expectedBytes = SampleGguf.Bytes((int)type.TensorBytes(shape)!.Value, seed: i);
                Assert.Equal(expectedBytes, file.GetData(tensor).AsSpan().ToArray());
            }
        }
        finally
        {
            file.Dispose();
            File.Delete(path);
        }
    }

    [Fact]
    public void PaddingBetweenTensorsIsZeroAndTheFileEndsAligned()
    {
        var bytes = SampleGguf.WriteToBytes(SampleGguf.Writer(alignment: 128));
        using var file = GgufFile.FromBytes(bytes, "padded.gguf");
        Assert.Equal(0, bytes.Length % 128);

        // Every byte of the data section outside a tensor's range is padding and must be zero.
        var owned = new bool[bytes.Length];
        foreach (var t in file.Tensors)
            for (long i = t.FileOffset; i < t.FileOffset + t.ByteLength; i++) owned[i] = true;
        for (long i = file.DataStart; i < bytes.Length; i++)
            if (!owned[i]) Assert.True(bytes[i] == 0, $"padding byte at {i} is {bytes[i]}");

        // Tensors are packed in order: each starts at the aligned end of the one before.
        long expected = file.DataStart;
        foreach (var t in file.Tensors)
        {
            Assert.Equal(expected, t.FileOffset);
            expected += (t.ByteLength + 127) / 128 * 128;
        }
        Assert.Equal(bytes.Length, expected);
    }

    [Fact]
    public void FloatSourcesAreEncodedAsF32AndF16()
    {
        float[] values = [1.0f, -2.0f, 65504f, 0.1f, 0.0f, -0.0f];
        var writer = new GgufWriter()
            .AddTensorFromFloats("f32", TensorType.F32, [2, 3], values)
            .AddTensorFromFloats("f16", TensorType.F16, [6], values);
        using var file = GgufFile.FromBytes(SampleGguf.WriteToBytes(writer), "floats.gguf");

        var f32 = file.GetData(file.Find("f32")!).AsSpan();
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(values[i]), BitConverter.ToUInt32(f32[(4 * i)..]));

        // IEEE half bit patterns worked out by hand: 1 = 0x3C00, -2 = 0xC000, 65504 = 0x7BFF (largest finite),
        // 0.1 = 0x2E66 (0.0999755859375, the nearest half), +0 = 0x0000, -0 = 0x8000.
        ushort[] halves = [0x3C00, 0xC000, 0x7BFF, 0x2E66, 0x0000, 0x8000];
        var f16 = file.GetData(file.Find("f16")!).AsSpan();
        for (int i = 0; i < halves.Length; i++)
            Assert.Equal(halves[i], BitConverter.ToUInt16(f16[(2 * i)..]));
    }

    [Fact]
    public void CallbackTensorsAreStreamedInOrder()
    {
        var payload = SampleGguf.Bytes(34 * 4, seed: 7);
        var writer = new GgufWriter().AddTensor("q", TensorType.Q8_0, [2, 64], stream =>
        {
            // Written in pieces, as a converter copying from another file would.
            for (int i = 0; i < payload.Length; i += 10) stream.Write(payload, i, Math.Min(10, payload.Length - i));
        });
        using var file = GgufFile.FromBytes(SampleGguf.WriteToBytes(writer), "stream.gguf");
        Assert.Equal(payload, file.GetData(file.Find("q")!).AsSpan().ToArray());
    }
}
