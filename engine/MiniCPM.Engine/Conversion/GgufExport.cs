using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

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
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("clip"));
        writer.AddMetadata("clip.has_text_encoder", GgufValue.FromBool(false));
        writer.AddMetadata("clip.has_vision_encoder", GgufValue.FromBool(true));
        writer.AddMetadata("clip.has_minicpmv_projector", GgufValue.FromBool(true));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(FileType(weightType)));
        writer.AddMetadata("general.description", GgufValue.FromString("image encoder for MiniCPM-V"));
        writer.AddMetadata("clip.projector_type", GgufValue.FromString("resampler"));
        writer.AddMetadata("clip.minicpmv_version", GgufValue.FromInt32(minicpmvVersion));
        writer.AddMetadata("clip.minicpmv_query_num", GgufValue.FromUInt32((uint)resampler.Queries));
        writer.AddMetadata("clip.vision.image_size", GgufValue.FromUInt32((uint)(source.Config.Slicing?.ScaleResolution ?? 448)));
        writer.AddMetadata("clip.vision.patch_size", GgufValue.FromUInt32((uint)vision.PatchSize));
        writer.AddMetadata("clip.vision.embedding_length", GgufValue.FromUInt32((uint)vision.HiddenSize));
        writer.AddMetadata("clip.vision.feed_forward_length", GgufValue.FromUInt32((uint)vision.IntermediateSize));
        writer.AddMetadata("clip.vision.projection_dim", GgufValue.FromUInt32(0));
        writer.AddMetadata("clip.vision.attention.head_count", GgufValue.FromUInt32((uint)vision.Heads));
        writer.AddMetadata("clip.vision.attention.layer_norm_epsilon", GgufValue.FromFloat32((float)vision.LayerNormEps));
        writer.AddMetadata("clip.vision.block_count", GgufValue.FromUInt32((uint)vision.LayersUsed));
        writer.AddMetadata("clip.vision.image_mean", GgufValue.FromArray(vision.ImageMean));
        writer.AddMetadata("clip.vision.image_std", GgufValue.FromArray(vision.ImageStd));
        writer.AddMetadata("clip.use_gelu", GgufValue.FromBool(true));

        var encoder = new GgufTensorEncoder(writer, source.Tensors);
        var w = source.Weights;
        string file = source.SourcePath;
        var kernelType = weightType == TensorType.F32 ? TensorType.F32 : TensorType.F16;
        encoder.Add("v.patch_embd.weight", w.Require("vision.patch_embd.weight", file), kernelType);
        encoder.Add("v.patch_embd.bias", w.Require("vision.patch_embd.bias", file), TensorType.F32);
        encoder.Add("v.position_embd.weight", w.Require("vision.position_embd.weight", file), weightType);
        for (int i = 0; i < vision.LayersUsed; i++)
        {
            foreach (var (engine, gguf) in new[] { ("attn_q", "attn_q"), ("attn_k", "attn_k"), ("attn_v", "attn_v"), ("attn_out", "attn_out"),
                                                   // llama.cpp's legacy converter names fc1 "ffn_down" and fc2 "ffn_up".
                                                   ("ffn_up", "ffn_down"), ("ffn_down", "ffn_up") })
            {
                encoder.Add($"v.blk.{i}.{gguf}.weight", w.Require(WeightNames.Vision(i, $"{engine}.weight"), file), weightType);
                encoder.Add($"v.blk.{i}.{gguf}.bias", w.Require(WeightNames.Vision(i, $"{engine}.bias"), file), TensorType.F32);
            }
            foreach (var norm in new[] { "ln1", "ln2" })
                foreach (var p in new[] { "weight", "bias" })
                    encoder.Add($"v.blk.{i}.{norm}.{p}", w.Require(WeightNames.Vision(i, $"{norm}.{p}"), file), TensorType.F32);
        }
        encoder.Add("v.post_ln.weight", w.Require("vision.post_ln.weight", file), TensorType.F32);
        encoder.Add("v.post_ln.bias", w.Require("vision.post_ln.bias", file), TensorType.F32);

        encoder.Add("resampler.query", w.Require("resampler.query", file), TensorType.F32);
        encoder.Add("resampler.kv.weight", w.Require("resampler.kv.weight", file), weightType);
        foreach (var part in new[] { "q", "k", "v" })
        {
            encoder.Add($"resampler.attn.{part}.weight", w.Require($"resampler.attn_{part}.weight", file), weightType);
            encoder.Add($"resampler.attn.{part}.bias", w.Require($"resampler.attn_{part}.bias", file), TensorType.F32);
        }
        encoder.Add("resampler.attn.out.weight", w.Require("resampler.attn_out.weight", file), weightType);
        encoder.Add("resampler.attn.out.bias", w.Require("resampler.attn_out.bias", file), TensorType.F32);
        foreach (var norm in new[] { "ln_q", "ln_kv", "ln_post" })
            foreach (var p in new[] { "weight", "bias" })
                encoder.Add($"resampler.{norm}.{p}", w.Require($"resampler.{norm}.{p}", file), TensorType.F32);
        encoder.Add("resampler.proj.weight", w.Require("resampler.proj.weight", file), weightType);
        int side = resampler.MaxGridSide;
        encoder.AddFloats("resampler.pos_embed_k", [side * side, resampler.EmbedDim], SinCosPositionTable.Grid(side, side, resampler.EmbedDim), TensorType.F32);
        writer.WriteTo(path);
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
