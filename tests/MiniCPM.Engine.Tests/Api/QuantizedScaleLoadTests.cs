using System.Buffers.Binary;
using MiniCPM.Engine.Conversion;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Api;

/// <summary>A quantized model whose block scale is NaN is refused at load with the tensor named (unless the check is off).</summary>
public sealed class QuantizedScaleLoadTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void ANaNBlockScaleIsATypedErrorNamingTheTensor()
    {
        string path = Path.Combine(tiny.Folder, "nan-scale-q4_0.gguf");
        GgufQuantizer.Quantize(tiny.Path, path, QuantizationScheme.Parse("q4_0"), threads: 1);
        using (var clean = MiniCpm.Load(path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 64 })) { }

        long offset;
        string name;
        using (var file = GgufFile.Open(path))
        {
            var tensor = file.Tensors.First(t => t.Type == Kernels.Formats.TensorType.Q4_0 && t.Name.Contains("ffn_up"));
            name = tensor.Name;
            offset = tensor.FileOffset + 3 * 18; // the f16 d of the fourth block
        }
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = offset;
            Span<byte> nan = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(nan, 0x7E00);
            stream.Write(nan);
        }

        var error = Assert.Throws<ModelFormatException>(() => MiniCpm.Load(path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 64 }));
        Assert.Contains(name, error.Message);
        using var unchecked_ = MiniCpm.Load(path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 64, ValidateQuantizedScales = false });
    }
}
