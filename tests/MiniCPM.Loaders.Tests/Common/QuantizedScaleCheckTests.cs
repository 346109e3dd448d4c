using System.Buffers.Binary;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Loaders.Tests.Common;

/// <summary>
/// Damaged quantized data in files written by GgufWriter: a NaN or infinite block scale (any block type, d or dmin) is
/// a ModelFormatException naming the tensor, the block and its offset; truncated K-quant data is refused on open,
/// naming the tensor; a clean file passes.
/// </summary>
public sealed class QuantizedScaleCheckTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("minicpm-scales-").FullName;

    private string Write(TensorType type)
    {
        var random = new Random(3);
        var values = new float[4 * 512];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("qwen2"));
        writer.AddTensorFromFloats("blk.0.attn_norm.weight", TensorType.F32, [512], values.AsMemory(0, 512));
        writer.AddTensorFromFloats("blk.0.ffn_up.weight", type, [4, 512], values);
        string path = Path.Combine(_folder, $"{type}.gguf");
        writer.WriteTo(path);
        return path;
    }

    /// <summary>Overwrites the f16 at <paramref name="scaleOffset"/> of block <paramref name="block"/> of the quantized tensor.</summary>
    private static void Corrupt(string path, int block, int scaleOffset, ushort bits)
    {
        long at;
        TensorType type;
        using (var file = GgufFile.Open(path))
        {
            var tensor = file.Find("blk.0.ffn_up.weight")!;
            type = tensor.Type;
            at = tensor.FileOffset + (long)block * type.BlockBytes() + scaleOffset;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        Span<byte> half = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(half, bits);
        stream.Write(half);
    }

    public static TheoryData<TensorType> BlockTypes => new(TensorType.Q4_0, TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1,
        TensorType.Q8_0, TensorType.Q2_K, TensorType.Q3_K, TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K);

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void A_clean_file_passes(TensorType type)
    {
        using var file = GgufFile.Open(Write(type));
        QuantizedScaleCheck.RequireFiniteScales(file);
    }

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void Every_scale_field_is_checked_for_NaN_and_infinity(TensorType type)
    {
        int blocks = 4 * 512 / type.BlockElements();
        foreach (int scaleOffset in BlockScales.HalfOffsets(type))
        {
            foreach (ushort bad in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0xFD01 })
            {
                string path = Write(type);
                int block = blocks - 1 - scaleOffset % 3; // not always the first block
                Corrupt(path, block, scaleOffset, bad);
                using var file = GgufFile.Open(path);
                var e = Assert.Throws<ModelFormatException>(() => QuantizedScaleCheck.RequireFiniteScales(file));
                Assert.Equal("blk.0.ffn_up.weight", e.Tensor);
                Assert.Contains($"block {block} of this {type} tensor", e.Message);
                Assert.Contains((bad & 0x3FF) != 0 ? "NaN" : "infinite", e.Message);
                Assert.Equal(file.Find("blk.0.ffn_up.weight")!.FileOffset + (long)block * type.BlockBytes() + scaleOffset, e.Offset);
            }
        }
    }

    [Fact]
    public void The_largest_finite_half_scale_is_accepted()
    {
        string path = Write(TensorType.Q4_K);
        Corrupt(path, 0, 0, 0x7BFF);  // 65504
        Corrupt(path, 1, 2, 0xFBFF);  // −65504
        using var file = GgufFile.Open(path);
        QuantizedScaleCheck.RequireFiniteScales(file);
    }

    [Theory]
    [InlineData(TensorType.Q4_K)]
    [InlineData(TensorType.Q6_K)]
    public void Truncated_quantized_data_is_refused_naming_the_tensor(TensorType type)
    {
        string path = Write(type);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
            stream.SetLength(stream.Length - type.BlockBytes() - 7);
        var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal("blk.0.ffn_up.weight", e.Tensor);
        Assert.Contains("extends past the end of the file", e.Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { /* a leftover temp folder is harmless */ }
    }
}
