using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Loaders.Tests.Gguf.Builders;

/// <summary>Sample metadata and tensors shared by the round-trip and fuzz tests.</summary>
internal static class SampleGguf
{
    /// <summary>One key per scalar type, one array per element type, edge values, non-ASCII text, empty and nested arrays.</summary>
    public static List<KeyValuePair<string, GgufValue>> EveryValueType() =>
    [
        new("general.architecture", GgufValue.FromString("qwen2")),
        new("test.u8", GgufValue.FromUInt8(byte.MaxValue)),
        new("test.i8", GgufValue.FromInt8(sbyte.MinValue)),
        new("test.u16", GgufValue.FromUInt16(0xBEEF)),
        new("test.i16", GgufValue.FromInt16(-12345)),
        new("test.u32", GgufValue.FromUInt32(3584)),
        new("test.i32", GgufValue.FromInt32(int.MinValue)),
        new("test.f32", GgufValue.FromFloat32(1e-6f)),
        new("test.f32_nan", GgufValue.FromFloat32(BitConverter.UInt32BitsToSingle(0x7FC0_1234))),
        new("test.f32_negzero", GgufValue.FromFloat32(-0.0f)),
        new("test.bool_true", GgufValue.FromBool(true)),
        new("test.bool_false", GgufValue.FromBool(false)),
        new("test.string_unicode", GgufValue.FromString("naïve — 東京 🚀 \u0000 end")),
        new("test.string_empty", GgufValue.FromString("")),
        new("test.u64", GgufValue.FromUInt64(ulong.MaxValue)),
        new("test.i64", GgufValue.FromInt64(long.MinValue)),
        new("test.f64", GgufValue.FromFloat64(Math.PI)),
        new("test.arr_u8", GgufValue.FromArray(new byte[] { 0, 1, 255 })),
        new("test.arr_i8", GgufValue.FromArray(new sbyte[] { -128, 0, 127 })),
        new("test.arr_u16", GgufValue.FromArray(new ushort[] { 0, 65535 })),
        new("test.arr_i16", GgufValue.FromArray(new short[] { -32768, 32767 })),
        new("test.arr_u32", GgufValue.FromArray(new uint[] { 0, uint.MaxValue, 7 })),
        new("test.arr_i32", GgufValue.FromArray(new[] { 1, 1, 3, 4, 6, -1 })),
        new("test.arr_f32", GgufValue.FromArray(new[] { 0.5f, -0.5f, float.PositiveInfinity })),
        new("test.arr_bool", GgufValue.FromArray(new[] { true, false, true })),
        new("tokenizer.ggml.tokens", GgufValue.FromArray(new[] { "!", "Ġthe", "", "東京", "<|im_end|>", "🚀" })),
        new("test.arr_u64", GgufValue.FromArray(new[] { ulong.MaxValue, 0UL })),
        new("test.arr_i64", GgufValue.FromArray(new[] { long.MinValue, long.MaxValue })),
        new("test.arr_f64", GgufValue.FromArray(new[] { 1e300, -1e-300 })),
        new("test.arr_empty", GgufValue.FromArray(Array.Empty<float>())),
        new("test.arr_empty_strings", GgufValue.FromArray(Array.Empty<string>())),
        new("test.arr_nested", GgufValue.FromArray(
        [
            GgufValue.FromArray(new byte[] { 9, 8 }),
            GgufValue.FromArray(new[] { "x", "yz" }),
            GgufValue.FromArray(Array.Empty<GgufValue>()),
            GgufValue.FromArray([GgufValue.FromArray(new[] { 2.5 })]),
        ])),
    ];

    /// <summary>Deterministic pseudo-random bytes (tensor payloads whose exact values only need to survive).</summary>
    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>(name, type, shape outermost-first) of tensors in every type the round trip covers.</summary>
    public static readonly (string Name, TensorType Type, long[] Shape)[] Tensors =
    [
        ("token_embd.weight", TensorType.F16, [5, 8]),
        ("blk.0.attn_norm.weight", TensorType.F32, [8]),
        ("blk.0.attn_q.weight", TensorType.BF16, [2, 3, 4]),
        ("blk.0.ffn_up.weight", TensorType.Q8_0, [3, 64]),
        ("blk.0.ffn_down.weight", TensorType.Q4_0, [2, 32]),
        ("blk.0.attn_v.weight", TensorType.Q4_K, [2, 256]),
        ("output.weight", TensorType.Q6_K, [1, 1, 1, 256]),
        ("empty", TensorType.F32, [0, 4]),
    ];

    /// <summary>A writer with <see cref="EveryValueType"/> (optionally an alignment) and <see cref="Tensors"/> filled with seeded bytes.</summary>
    public static GgufWriter Writer(uint? alignment = null)
    {
        var writer = new GgufWriter();
        if (alignment is { } a) writer.AddMetadata("general.alignment", GgufValue.FromUInt32(a));
        foreach (var (key, value) in EveryValueType()) writer.AddMetadata(key, value);
        for (int i = 0; i < Tensors.Length; i++)
        {
            var (name, type, shape) = Tensors[i];
            writer.AddTensor(name, type, shape, Bytes((int)type.TensorBytes(shape)!.Value, seed: i));
        }
        return writer;
    }

    public static byte[] WriteToBytes(GgufWriter writer)
    {
        using var output = new MemoryStream();
        writer.WriteTo(output);
        return output.ToArray();
    }
}
