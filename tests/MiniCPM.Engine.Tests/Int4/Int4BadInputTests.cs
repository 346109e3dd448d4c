using System.Runtime.InteropServices;
using System.Text;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Tests.Int4;

/// <summary>Malformed int4 checkpoints fail at Checkpoint.Open with a <see cref="ModelFormatException"/> naming the tensor (or file).</summary>
public sealed class Int4BadInputTests : IDisposable
{
    private const string Q = "llm.model.layers.0.self_attn.q_proj";
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private delegate (string Name, TensorType Type, long[] Shape, byte[] Bytes)? Edit(string name, TensorType type, long[] shape, byte[] bytes);

    /// <summary>Rewrites model.safetensors of the folder through <paramref name="edit"/> (null drops a tensor).</summary>
    private void Rewrite(Edit edit)
    {
        string path = Path.Combine(_dir, "model.safetensors");
        var writer = new SafetensorsWriter();
        using (var file = SafetensorsFile.Open(path))
            foreach (var t in file.Tensors)
                if (edit(t.Name, t.Type, t.Shape, file.GetData(t).AsSpan().ToArray()) is { } e)
                    writer.AddTensor(e.Name, e.Type, e.Shape, e.Bytes);
        writer.Write(path);
    }

    private ModelFormatException OpenFails()
    {
        var e = Assert.Throws<ModelFormatException>(() => Checkpoint.Open(_dir).Dispose());
        return e;
    }

    [Theory]
    [InlineData(".weight.nested_absmax")]
    [InlineData(".weight.absmax")]
    [InlineData(".weight.quant_map")]
    [InlineData(".weight")]
    public void Nf4MissingCompanionIsNamed(string suffix)
    {
        Int4CheckpointTests.Write("nf4", _dir);
        Rewrite((n, t, s, b) => n == Q + suffix ? null : (n, t, s, b));
        var e = OpenFails();
        Assert.Equal(Q + suffix, e.Tensor);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Nf4AbsmaxOfWrongLengthIsNamed()
    {
        Int4CheckpointTests.Write("nf4", _dir);
        Rewrite((n, t, s, b) => n == Q + ".weight.absmax" ? (n, t, [s[0] - 1], b[..^1]) : (n, t, s, b));
        Assert.Equal(Q + ".weight.absmax", OpenFails().Tensor);
    }

    [Fact]
    public void Nf4NaNScaleIsNamed()
    {
        Int4CheckpointTests.Write("nf4", _dir);
        Rewrite((n, t, s, b) =>
        {
            if (n == Q + ".weight.nested_absmax") MemoryMarshal.Cast<byte, float>(b.AsSpan())[0] = float.NaN;
            return (n, t, s, b);
        });
        var e = OpenFails();
        Assert.Equal(Q + ".weight.nested_absmax", e.Tensor);
        Assert.Contains("NaN", e.Message);
    }

    [Theory]
    [InlineData("{not json", "not bitsandbytes' JSON")]
    [InlineData("{\"quant_type\": \"nf4\", \"blocksize\": 48, \"dtype\": \"bfloat16\", \"shape\": [256, 256], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.01}", "block size 48")]
    [InlineData("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [256, 128], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.01}", "expected U8")]
    public void Nf4BadQuantStateIsNamed(string json, string expected)
    {
        Int4CheckpointTests.Write("nf4", _dir);
        string state = Q + ".weight.quant_state.bitsandbytes__nf4";
        Rewrite((n, t, s, b) => n == state ? (n, t, [Encoding.UTF8.GetByteCount(json)], Encoding.UTF8.GetBytes(json)) : (n, t, s, b));
        var e = OpenFails();
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(Q + ".weight", e.Tensor);
    }

    [Fact]
    public void Fp4IsRejectedByName()
    {
        Int4CheckpointTests.Write("nf4", _dir);
        Rewrite((n, t, s, b) => (n.Replace("bitsandbytes__nf4", "bitsandbytes__fp4"), t, s, b));
        var e = OpenFails();
        Assert.Contains("fp4", e.Message);
        Assert.EndsWith("bitsandbytes__fp4", e.Tensor);
    }

    [Theory]
    [InlineData(".qzeros")]
    [InlineData(".scales")]
    [InlineData(".g_idx")]
    public void GptqMissingCompanionIsNamed(string suffix)
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        Rewrite((n, t, s, b) => n == Q + suffix ? null : (n, t, s, b));
        var e = OpenFails();
        Assert.Contains(Q + suffix, e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void GptqScalesWithWrongGroupCountAreNamed()
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        Rewrite((n, t, s, b) => n == Q + ".scales" ? (n, t, [s[0] - 1, s[1]], b[..(int)((s[0] - 1) * s[1] * 2)]) : (n, t, s, b));
        Assert.Equal(Q + ".scales", OpenFails().Tensor);
    }

    [Fact]
    public void GptqInfiniteScaleIsNamed()
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        Rewrite((n, t, s, b) =>
        {
            if (n == Q + ".scales") MemoryMarshal.Cast<byte, ushort>(b.AsSpan())[3] = 0x7C00;
            return (n, t, s, b);
        });
        var e = OpenFails();
        Assert.Equal(Q + ".scales", e.Tensor);
        Assert.Contains("Infinity", e.Message);
    }

    [Fact]
    public void GptqGroupIndexOutOfRangeIsNamed()
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        Rewrite((n, t, s, b) =>
        {
            if (n == Q + ".g_idx") MemoryMarshal.Cast<byte, int>(b.AsSpan())[5] = 99;
            return (n, t, s, b);
        });
        Assert.Equal(Q + ".g_idx", OpenFails().Tensor);
    }

    [Theory]
    [InlineData("\"bits\": 4", "\"bits\": 8", "8 bits")]
    [InlineData("\"group_size\": 64", "\"group_size\": 128", "groups")]
    [InlineData("\"group_size\": 64", "\"group_size\": 0", "group size 0")]
    [InlineData("\"checkpoint_format\": \"gptq\"", "\"checkpoint_format\": \"marlin\"", "marlin")]
    public void GptqUnsupportedOrInconsistentConfigIsReported(string from, string to, string expected)
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        string config = Path.Combine(_dir, "quantize_config.json");
        string text = File.ReadAllText(config);
        Assert.Contains(from, text);
        File.WriteAllText(config, text.Replace(from, to));
        Assert.Contains(expected, OpenFails().Message);
    }

    [Fact]
    public void GptqWithoutQuantizeConfigIsNamed()
    {
        Int4CheckpointTests.Write("gptq-sym-g64", _dir);
        File.Delete(Path.Combine(_dir, "quantize_config.json"));
        var e = OpenFails();
        Assert.EndsWith(".qweight", e.Tensor);
        Assert.Contains("quantization_config", e.Message);
    }
}
