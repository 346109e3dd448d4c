using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>
/// The decoder on Q4_K/Q6_K weights (a Q4_K_M-like mix): the golden llm case's architecture with every matrix
/// replaced by random but valid K-quant blocks must give the same logits, up to float32 rounding, as the decoder on
/// an F32 GGUF holding the DEQUANTIZED values of those blocks. There is no K-quant quantizer, so the blocks are random
/// bytes with realistic f16 super-block scales; the model's output is meaningless but the comparison isolates the
/// fused K-quant kernels: both runs do the same math on the same weight values, only summation orders differ.
/// </summary>
public sealed class Qwen2KQuantTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void KQuantModelMatchesTheModelOnItsDequantizedWeights()
    {
        string f32 = Path.Combine(_dir, "f32.gguf");
        string quantized = Path.Combine(_dir, "q4_k_m.gguf");
        string dequantized = Path.Combine(_dir, "q4_k_m-as-f32.gguf");
        using (var checkpoint = Checkpoint.Open(TinyQwen2.WeightsPath)) GgufExport.WriteTextModel(checkpoint, f32, TensorType.F32);
        var (q4, q6) = WriteRandomKQuantPair(f32, quantized, dequantized, new Random(2026));
        Assert.True(q4 >= 8 && q6 >= 4, $"only {q4} Q4_K and {q6} Q6_K matrices were written");

        Assert.InRange(TinyQwen2.QuantizedVersusDequantized(quantized, dequantized), 0, 2e-6); // measured 4.3e-7 (logits max 1.8, rms 0.36)
    }

    /// <summary>
    /// Copies an F32 GGUF twice: every 2-D weight whose rows are whole 256-blocks becomes random K-quant blocks in
    /// <paramref name="quantized"/> (Q6_K for attn_v and ffn_down, as Q4_K_M does, Q4_K otherwise) and their
    /// dequantized values in <paramref name="dequantized"/>; everything else is copied as is. Returns the counts.
    /// </summary>
    private static (int Q4, int Q6) WriteRandomKQuantPair(string source, string quantized, string dequantized, Random random)
    {
        using var file = GgufFile.Open(source);
        var quantizedWriter = new GgufWriter();
        var dequantizedWriter = new GgufWriter();
        foreach (var (key, value) in file.Metadata)
        {
            quantizedWriter.AddMetadata(key, value);
            dequantizedWriter.AddMetadata(key, value);
        }
        int q4 = 0, q6 = 0;
        foreach (var tensor in file.Tensors)
        {
            byte[] bytes = file.GetData(tensor).AsSpan().ToArray();
            if (tensor.Shape.Length != 2 || tensor.Shape[^1] % 256 != 0)
            {
                quantizedWriter.AddTensor(tensor.Name, tensor.Type, tensor.Shape, bytes);
                dequantizedWriter.AddTensor(tensor.Name, tensor.Type, tensor.Shape, bytes);
                continue;
            }
            bool q6Tensor = tensor.Name.Contains("attn_v") || tensor.Name.Contains("ffn_down");
            var type = q6Tensor ? TensorType.Q6_K : TensorType.Q4_K;
            byte[] blocks = RandomBlocks(type, tensor.ElementCount / 256, random);
            var values = new float[tensor.ElementCount];
            Dequantizer.ToFloat(type, blocks, values);
            quantizedWriter.AddTensor(tensor.Name, type, tensor.Shape, blocks);
            dequantizedWriter.AddTensorFromFloats(tensor.Name, TensorType.F32, tensor.Shape, values);
            if (q6Tensor) q6++; else q4++;
        }
        quantizedWriter.WriteTo(quantized);
        dequantizedWriter.WriteTo(dequantized);
        return (q4, q6);
    }

    /// <summary>
    /// Random bytes (every pattern of quants, scales and mins is valid) with positive f16 scales sized so weights are
    /// O(0.05), like a trained model's: Q4_K's d·sc·q reaches d·63·15 and dmin·m reaches dmin·63; Q6_K's d·sc·q
    /// reaches d·128·32.
    /// </summary>
    private static byte[] RandomBlocks(TensorType type, long count, Random random)
    {
        int size = type.BlockBytes();
        var bytes = new byte[count * size];
        random.NextBytes(bytes);
        for (long b = 0; b < count; b++)
        {
            var block = bytes.AsSpan((int)(b * size), size);
            if (type == TensorType.Q4_K)
            {
                BitConverter.TryWriteBytes(block[..2], (Half)(5e-5 * (1 + random.NextDouble())));
                BitConverter.TryWriteBytes(block.Slice(2, 2), (Half)(4e-4 * (1 + random.NextDouble())));
            }
            else BitConverter.TryWriteBytes(block[208..], (Half)(1e-5 * (1 + random.NextDouble())));
        }
        return bytes;
    }
}
