using LLama.Native;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.LlamaCpp.Tests.LlamaCpp;
using MiniCPM.LlamaCpp.Tests.TinyQwen2;
using Xunit.Abstractions;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>
/// The engine's BlockQuantizer writes the very bytes llama.cpp's quantizer writes: an F32 GGUF written by the project
/// is quantized by llama.cpp (no imatrix, so ggml's quantize_row_*_ref run) in --pure mode, and every quantized tensor
/// of the result is compared, byte for byte, with BlockQuantizer on the same floats. The weights carry edge rows in
/// every matrix: all zeros, constant, negative-only, positive-only, tiny (f16-subnormal scales), large, outliers and
/// half-zero blocks.
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LlamaCppBlockQuantizerParityTests(TinyQwen2Files files, ITestOutputHelper output)
{
    public static TheoryData<TensorType, LLamaFtype> Types => new()
    {
        { TensorType.Q8_0, LLamaFtype.MOSTLY_Q8_0 },
        { TensorType.Q4_0, LLamaFtype.MOSTLY_Q4_0 },
        { TensorType.Q4_1, LLamaFtype.MOSTLY_Q4_1 },
        { TensorType.Q5_0, LLamaFtype.MOSTLY_Q5_0 },
        { TensorType.Q5_1, LLamaFtype.MOSTLY_Q5_1 },
        { TensorType.Q2_K, LLamaFtype.MOSTLY_Q2_K },
        { TensorType.Q3_K, LLamaFtype.MOSTLY_Q3_K_S },
        { TensorType.Q4_K, LLamaFtype.MOSTLY_Q4_K_S },
        { TensorType.Q5_K, LLamaFtype.MOSTLY_Q5_K_S },
        { TensorType.Q6_K, LLamaFtype.MOSTLY_Q6_K },
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void Every_quantized_tensor_has_llama_cpp_bytes(TensorType type, LLamaFtype fileType)
    {
        var weights = EdgeRows(files.Weights);
        string folder = Directory.CreateTempSubdirectory("minicpm-qparity-").FullName;
        try
        {
            string source = Path.Combine(folder, "f32.gguf"), quantized = Path.Combine(folder, $"{type}.gguf");
            TinyQwen2Gguf.Write(source, weights, files.Vocabulary, TensorType.F32);
            LlamaCppQuantizer.Quantize(source, quantized, fileType, pure: true);

            using var file = GgufFile.Open(quantized);
            int compared = 0;
            foreach (var tensor in file.Tensors.Where(t => t.Type == type))
            {
                float[] values = weights.Tensors.Single(t => t.Name == tensor.Name).Values;
                var ours = new byte[tensor.ByteLength];
                BlockQuantizer.Quantize(type, values, ours);
                ReadOnlySpan<byte> theirs = file.GetData(tensor).AsSpan();
                int firstDifference = ours.AsSpan().CommonPrefixLength(theirs);
                Assert.True(firstDifference == ours.Length,
                    $"{tensor.Name} ({type}): first differing byte {firstDifference} = block {firstDifference / type.BlockBytes()} (row {firstDifference / (tensor.ByteLength / tensor.Shape[0])})");
                compared++;
            }
            output.WriteLine($"{type}: {compared} tensors identical to llama.cpp's");
            // Every matrix is quantized in pure mode: 2 layers × 7 matrices + token_embd + output.
            Assert.Equal(2 * 7 + 2, compared);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Overwrites the first rows of every matrix with the patterns that stress a quantizer's corner cases.</summary>
    internal static Qwen2Weights EdgeRows(Qwen2Weights weights) => weights.Select(t =>
    {
        float[] v = (float[])t.Values.Clone();
        if (t.IsVector) return v;
        int columns = (int)t.Shape[1];
        for (int row = 0; row < Math.Min(9, (int)t.Shape[0]); row++)
        {
            var r = v.AsSpan(row * columns, columns);
            float max = 0;
            foreach (float x in r) max = Math.Max(max, Math.Abs(x));
            for (int i = 0; i < columns; i++)
            {
                r[i] = row switch
                {
                    0 => 0f,
                    1 => 0.37f,
                    2 => -Math.Abs(r[i]),
                    3 => Math.Abs(r[i]),
                    4 => r[i] * 1e-6f,
                    5 => r[i] * 300f,
                    6 => i % 32 == 5 ? 50 * max : r[i],
                    7 => i % 256 < 128 ? 0f : r[i],
                    _ => i % 64 == 0 ? -max : r[i], // ties between the largest negative and positive values
                };
            }
        }
        return v;
    });
}
