using MiniCPM.Engine.Configuration;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// Converts an HF MiniCPM-V 2.6 / MiniCPM-o 2.6 (or Qwen2) checkpoint into llama.cpp's pair of GGUF files with
/// the layout of its converters: the `qwen2` text model, and the `clip` mmproj (vision tower + resampler) with the
/// legacy fc1/fc2 naming, the split in_proj, the transposed proj and the generated pos_embed_k table.
/// </summary>
public static class GgufExport
{
    /// <summary>Types a converted weight matrix can take (the quantizers the engine has).</summary>
    public static bool IsSupportedWeightType(TensorType type) => BlockQuantizer.CanQuantize(type) && type != TensorType.Q8_1;

    public static void WriteTextModel(Checkpoint source, string path, TensorType weightType)
    {
        var llm = source.Config.Llm ?? throw new InvalidOperationException("the checkpoint has no language model");
        RequireWeightType(weightType);
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(source.SourcePath));
        Qwen2Gguf.Write(path, llm, name, weightType,
            engineName => GgufTensorEncoder.Rows(source.Tensors, source.Weights.Require(engineName, source.SourcePath)),
            tokenizerMetadata: []);
    }

    /// <summary>
    /// Writes the mmproj file. <paramref name="weightType"/> applies to 2-D matrices (F16 in llama.cpp's files); the
    /// patch embedding stays F16 or F32 because ggml's convolution needs a float kernel.
    /// </summary>
    public static void WriteVisionProjector(Checkpoint source, string path, TensorType weightType, int minicpmvVersion)
    {
        var vision = source.Config.Vision ?? throw new InvalidOperationException("the checkpoint has no vision tower");
        var resampler = source.Config.Resampler!;
        RequireWeightType(weightType);
        MmprojGguf.Write(path, vision, resampler, source.Config.Slicing?.ScaleResolution ?? 448, weightType, minicpmvVersion,
            engineName => GgufTensorEncoder.Rows(source.Tensors, source.Weights.Require(engineName, source.SourcePath)));
    }

    /// <summary>llama.cpp's general.file_type for a checkpoint whose matrices are mostly <paramref name="type"/>.</summary>
    public static uint FileType(TensorType type) => type switch
    {
        TensorType.F32 => 0,
        TensorType.F16 => 1,
        TensorType.Q4_0 => 2,
        TensorType.Q4_1 => 3,
        TensorType.Q8_0 => 7,
        TensorType.Q5_0 => 8,
        TensorType.Q5_1 => 9,
        TensorType.Q2_K => 10,
        TensorType.Q3_K => 11, // llama.cpp's Q3_K_S, Q4_K_S and Q5_K_S are the mixes closest to all-Q3_K/Q4_K/Q5_K
        TensorType.Q4_K => 14,
        TensorType.Q5_K => 16,
        TensorType.Q6_K => 18,
        TensorType.BF16 => 32,
        _ => throw new NotSupportedException($"no llama.cpp file type for {type}"),
    };

    private static void RequireWeightType(TensorType type)
    {
        if (!IsSupportedWeightType(type))
            throw new NotSupportedException($"converting weights to {type} is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    }
}
