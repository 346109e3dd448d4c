using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Tests.Gguf.Builders;

namespace MiniCPM.Loaders.Tests.Gguf;

/// <summary>The writer refuses anything the reader (or ggml) would refuse, and checks what callbacks write.</summary>
public class WriterTests
{
    [Fact]
    public void RefusesDuplicateKeysAndBadAlignment()
    {
        var writer = new GgufWriter().AddMetadata("k", GgufValue.FromUInt8(1));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("k", GgufValue.FromUInt8(2)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("", GgufValue.FromUInt8(2)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromUInt32(48)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromUInt32(0)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromUInt64(64)));
        writer.AddMetadata("general.alignment", GgufValue.FromUInt32(64));
        Assert.Equal(64, writer.Alignment);
    }

    [Fact]
    public void RefusesTensorsTheReaderWouldRefuse()
    {
        var writer = new GgufWriter();
        writer.AddTensor(new string('n', 63), TensorType.F32, [1], new byte[4]);
        Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('n', 64), TensorType.F32, [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('n', 63), TensorType.F32, [1], new byte[4])); // duplicate
        Assert.Throws<ArgumentException>(() => writer.AddTensor("rank5", TensorType.F32, [1, 1, 1, 1, 1], new byte[4]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("negative", TensorType.F32, [-1, 4], new byte[0]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("q", TensorType.Q8_0, [33], new byte[34]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("short", TensorType.F32, [2], new byte[7]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("u8", TensorType.U8, [2], new byte[2])); // no ggml type
        Assert.Throws<ArgumentException>(() => writer.AddTensorFromFloats("count", TensorType.F32, [2, 2], new float[3]));
    }

    [Fact]
    public void FloatEncodingIsRefusedExactlyWhenNoQuantizerExists()
    {
        var writer = new GgufWriter();
        bool available = BlockQuantizer.CanQuantize(TensorType.Q4_K);
        var error = Record.Exception(() => writer.AddTensorFromFloats("q", TensorType.Q4_K, [256], new float[256]));
        if (available) Assert.Null(error);
        else Assert.IsType<NotSupportedException>(error);
    }

    [Theory]
    [InlineData(33)]
    [InlineData(35)]
    public void CallbacksMustWriteExactlyTheTensorSize(int written)
    {
        var writer = new GgufWriter().AddTensor("q", TensorType.Q8_0, [32], s => s.Write(new byte[written]));
        var path = Path.Combine(Path.GetTempPath(), $"minicpm-gguf-{Guid.NewGuid():N}.gguf");
        Assert.Throws<InvalidOperationException>(() => writer.WriteTo(path));
        Assert.False(File.Exists(path), "a failed write leaves no partial file");
    }

    [Fact]
    public void WritesToAForwardOnlyStream()
    {
        var sink = new MemoryStream();
        SampleGguf.Writer(alignment: 64).WriteTo(new ForwardOnlyStream(sink));
        Assert.Equal(SampleGguf.WriteToBytes(SampleGguf.Writer(alignment: 64)), sink.ToArray());
    }

    /// <summary>A stream that can only be appended to, like a pipe or a network stream.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
