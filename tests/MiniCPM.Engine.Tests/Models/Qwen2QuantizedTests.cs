using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>
/// The decoder on block-quantized weights: the golden llm case exported to a Q8_0 (or Q4_0) GGUF must give the same
/// logits, up to float32 rounding, as the decoder on an F32 GGUF holding the DEQUANTIZED values of those weights.
/// That isolates the fused quantized kernels: both runs do the same math on the same weight values, only the kernels'
/// summation orders differ.
/// </summary>
public sealed class Qwen2QuantizedTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(TensorType.Q8_0)]
    [InlineData(TensorType.Q4_0)]
    public void QuantizedModelMatchesTheModelOnItsDequantizedWeights(TensorType type)
    {
        string quantized = Path.Combine(_dir, $"{type}.gguf");
        string dequantized = Path.Combine(_dir, $"{type}-as-f32.gguf");
        using (var checkpoint = Checkpoint.Open(TinyQwen2.WeightsPath)) GgufExport.WriteTextModel(checkpoint, quantized, type);
        int quantizedTensors = WriteDequantizedCopy(quantized, dequantized, type);
        Assert.True(quantizedTensors >= 7, $"only {quantizedTensors} tensors were exported as {type}");

        Assert.InRange(TinyQwen2.QuantizedVersusDequantized(quantized, dequantized), 0, 2e-6); // measured 3.4e-7 (Q8_0), 3.8e-7 (Q4_0)
    }

    /// <summary>Copies a GGUF with every <paramref name="type"/> tensor decoded to F32; returns how many there were.</summary>
    private static int WriteDequantizedCopy(string source, string destination, TensorType type)
    {
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter();
        foreach (var (key, value) in file.Metadata)
            writer.AddMetadata(key, value);
        int count = 0;
        foreach (var tensor in file.Tensors)
        {
            byte[] bytes = file.GetData(tensor).AsSpan().ToArray();
            if (tensor.Type == type)
            {
                var values = new float[tensor.ElementCount];
                Dequantizer.ToFloat(type, bytes, values);
                writer.AddTensorFromFloats(tensor.Name, TensorType.F32, tensor.Shape, values);
                count++;
            }
            else writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, bytes);
        }
        writer.WriteTo(destination);
        return count;
    }
}
