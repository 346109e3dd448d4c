using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>
/// The decoder on every GGUF block type, with float32 and with int8 activations, against the decoder on an F32 GGUF
/// of the same weights' DEQUANTIZED values (whose own float32 evaluation the golden tests hold to HF's float64-derived
/// logits). Q4_0 … Q8_0 files come from the exporter's quantizer on the golden llm case; the K types (no quantizer
/// here) are random valid blocks with f16 scales sized so weights are O(0.05), like a trained model's.
/// Float32 activations: only summation order differs, so the bound is float32 rounding. Int8 activations: the
/// activations carry their 8-bit rounding, and the bound states that cost (measured values in the comments).
/// </summary>
public sealed class Qwen2AllQuantTypesTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<TensorType, ActivationPrecision> Cases()
    {
        var data = new TheoryData<TensorType, ActivationPrecision>();
        foreach (var type in new[] { TensorType.Q4_0, TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1, TensorType.Q8_0,
                     TensorType.Q2_K, TensorType.Q3_K, TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K })
            foreach (var activations in new[] { ActivationPrecision.Float32, ActivationPrecision.Int8 })
                data.Add(type, activations);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedModelMatchesTheModelOnItsDequantizedWeights(TensorType type, ActivationPrecision activations)
    {
        string quantized = Path.Combine(_dir, $"{type}.gguf");
        string dequantized = Path.Combine(_dir, $"{type}-as-f32.gguf");
        int count = WriteQuantizedPair(type, quantized, dequantized, new Random(4242 + (int)type));
        Assert.True(count >= 7, $"only {count} tensors were written as {type}");

        double difference = TinyQwen2.QuantizedVersusDequantized(quantized, dequantized, activations);
        if (activations == ActivationPrecision.Float32)
            Assert.InRange(difference, 0, 2e-6); // measured 2.3e-7 (Q6_K) … 5.3e-7 (Q5_1), 1.8e-6 (Q2_K: its min term cancels)
        else
            Assert.InRange(difference, 0, Int8Bound(type));
    }

    /// <summary>
    /// The cost of int8 activations, as measured (max |Δlogit| / max |logit|, 2026-11-26): 1.1e-2 … 1.3e-2 for the
    /// 32-element types and Q4_K/Q6_K, 1.6e-2 for Q3_K/Q5_K, 5.6e-2 for Q2_K — whose random blocks have large
    /// positive mins, so every row carries dmin·m·Σx and with it the whole rounding error of Σx. Each activation is
    /// rounded by up to 1/254 of its block's largest |x| (Q8_0/Q8_K), which bounds the order of these figures.
    /// </summary>
    private static double Int8Bound(TensorType type) => type switch
    {
        TensorType.Q2_K => 8e-2,
        _ => 2e-2,
    };

    /// <summary>
    /// Writes the golden llm model with every 2-D weight whose rows are whole blocks in <paramref name="type"/>, and
    /// a copy with those tensors' dequantized values as F32; returns how many tensors are quantized.
    /// </summary>
    private int WriteQuantizedPair(TensorType type, string quantized, string dequantized, Random random)
    {
        string f32 = Path.Combine(_dir, "f32.gguf");
        bool hasQuantizer = type.BlockElements() == 32;
        using (var checkpoint = Checkpoint.Open(TinyQwen2.WeightsPath))
            GgufExport.WriteTextModel(checkpoint, hasQuantizer ? quantized : f32, hasQuantizer ? type : TensorType.F32);
        using var file = GgufFile.Open(hasQuantizer ? quantized : f32);
        var quantizedWriter = new GgufWriter();
        var dequantizedWriter = new GgufWriter();
        foreach (var (key, value) in file.Metadata)
        {
            quantizedWriter.AddMetadata(key, value);
            dequantizedWriter.AddMetadata(key, value);
        }
        int count = 0;
        foreach (var tensor in file.Tensors)
        {
            byte[] bytes = file.GetData(tensor).AsSpan().ToArray();
            var tensorType = tensor.Type;
            if (!hasQuantizer && tensor.Shape.Length == 2 && tensor.Shape[^1] % 256 == 0)
            {
                bytes = RandomKBlocks(type, tensor.ElementCount / 256, random);
                tensorType = type;
            }
            quantizedWriter.AddTensor(tensor.Name, tensorType, tensor.Shape, bytes);
            if (tensorType == type)
            {
                var values = new float[tensor.ElementCount];
                Dequantizer.ToFloat(type, bytes, values);
                dequantizedWriter.AddTensorFromFloats(tensor.Name, TensorType.F32, tensor.Shape, values);
                count++;
            }
            else dequantizedWriter.AddTensor(tensor.Name, tensorType, tensor.Shape, bytes);
        }
        file.Dispose();
        quantizedWriter.WriteTo(quantized);
        dequantizedWriter.WriteTo(dequantized);
        return count;
    }

    /// <summary>Random K-quant blocks (every bit pattern valid) with positive f16 (d, dmin) giving weights of O(0.05).</summary>
    private static byte[] RandomKBlocks(TensorType type, long count, Random random)
    {
        int size = type.BlockBytes();
        var bytes = new byte[count * size];
        random.NextBytes(bytes);
        for (long b = 0; b < count; b++)
        {
            var block = bytes.AsSpan((int)(b * size), size);
            Half Scale(double typical) => (Half)(typical * (1 + random.NextDouble()));
            switch (type)
            {
                case TensorType.Q2_K: // d·sc·q ≤ d·45, dmin·m ≤ dmin·15
                    BitConverter.TryWriteBytes(block.Slice(80, 2), Scale(1e-3));
                    BitConverter.TryWriteBytes(block.Slice(82, 2), Scale(1e-3));
                    break;
                case TensorType.Q3_K: // d·(sc − 32)·(q − 4) ≤ d·128
                    BitConverter.TryWriteBytes(block.Slice(108, 2), Scale(3e-4));
                    break;
                case TensorType.Q4_K: // d·sc·q ≤ d·945, dmin·m ≤ dmin·63
                    BitConverter.TryWriteBytes(block[..2], Scale(5e-5));
                    BitConverter.TryWriteBytes(block.Slice(2, 2), Scale(4e-4));
                    break;
                case TensorType.Q5_K: // d·sc·q ≤ d·1953
                    BitConverter.TryWriteBytes(block[..2], Scale(2.5e-5));
                    BitConverter.TryWriteBytes(block.Slice(2, 2), Scale(4e-4));
                    break;
                case TensorType.Q6_K: // d·sc·(q − 32) ≤ d·4096
                    BitConverter.TryWriteBytes(block[208..], Scale(1e-5));
                    break;
            }
        }
        return bytes;
    }
}
