using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// The one way the project writes a llama.cpp MiniCPM-V `clip` mmproj GGUF (reference checkpoint-formats.md §8): the
/// metadata of the legacy converter and its tensors — the legacy fc1/fc2 naming (fc1 as ffn_down), the in_proj split
/// into q/k/v, proj stored as projᵀ (the engine's orientation), the generated pos_embed_k table. Used by the HF
/// converter (<see cref="GgufExport"/>) and by the synthetic-model maker; each supplies the weights by engine name.
/// </summary>
internal static class MmprojGguf
{
    /// <summary>How a tensor is stored: a matrix in the chosen type, the patch kernel in F16/F32, or F32.</summary>
    public enum Storage { Matrix, Kernel, Float32 }

    /// <param name="sliceResolution">`clip.vision.image_size`: the slicing resolution (448), not SigLIP's 980.</param>
    public static void Write(string path, VisionConfig vision, ResamplerConfig resampler, int sliceResolution,
        TensorType weightType, int minicpmvVersion, Func<string, FloatRows> weight)
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("clip"));
        writer.AddMetadata("clip.has_text_encoder", GgufValue.FromBool(false));
        writer.AddMetadata("clip.has_vision_encoder", GgufValue.FromBool(true));
        writer.AddMetadata("clip.has_minicpmv_projector", GgufValue.FromBool(true));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(GgufExport.FileType(weightType)));
        writer.AddMetadata("general.description", GgufValue.FromString("image encoder for MiniCPM-V"));
        writer.AddMetadata("clip.projector_type", GgufValue.FromString("resampler"));
        writer.AddMetadata("clip.minicpmv_version", GgufValue.FromInt32(minicpmvVersion));
        writer.AddMetadata("clip.minicpmv_query_num", GgufValue.FromUInt32((uint)resampler.Queries));
        writer.AddMetadata("clip.vision.image_size", GgufValue.FromUInt32((uint)sliceResolution));
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

        var encoder = new GgufTensorEncoder(writer);
        // ggml's convolution needs a float kernel.
        var kernelType = weightType == TensorType.F32 ? TensorType.F32 : TensorType.F16;
        foreach (var (ggufName, engineName, storage) in Tensors(vision))
            encoder.Add(ggufName, weight(engineName), storage switch
            {
                Storage.Matrix => weightType,
                Storage.Kernel => kernelType,
                _ => TensorType.F32,
            });
        int side = resampler.MaxGridSide;
        encoder.AddFloats("resampler.pos_embed_k", [side * side, resampler.EmbedDim], SinCosPositionTable.Grid(side, side, resampler.EmbedDim), TensorType.F32);
        writer.WriteTo(path);
    }

    /// <summary>The weight tensors of the file in order (pos_embed_k, generated, comes last).</summary>
    public static IEnumerable<(string GgufName, string EngineName, Storage Storage)> Tensors(VisionConfig vision)
    {
        yield return ("v.patch_embd.weight", "vision.patch_embd.weight", Storage.Kernel);
        yield return ("v.patch_embd.bias", "vision.patch_embd.bias", Storage.Float32);
        yield return ("v.position_embd.weight", "vision.position_embd.weight", Storage.Matrix);
        for (int i = 0; i < vision.LayersUsed; i++)
        {
            // llama.cpp's legacy converter names fc1 (engine ffn_up) "ffn_down" and fc2 "ffn_up".
            foreach (var (engine, gguf) in new[] { ("attn_q", "attn_q"), ("attn_k", "attn_k"), ("attn_v", "attn_v"), ("attn_out", "attn_out"),
                                                   ("ffn_up", "ffn_down"), ("ffn_down", "ffn_up") })
            {
                yield return ($"v.blk.{i}.{gguf}.weight", WeightNames.Vision(i, $"{engine}.weight"), Storage.Matrix);
                yield return ($"v.blk.{i}.{gguf}.bias", WeightNames.Vision(i, $"{engine}.bias"), Storage.Float32);
            }
            foreach (var norm in new[] { "ln1", "ln2" })
                foreach (var p in new[] { "weight", "bias" })
                    yield return ($"v.blk.{i}.{norm}.{p}", WeightNames.Vision(i, $"{norm}.{p}"), Storage.Float32);
        }
        yield return ("v.post_ln.weight", "vision.post_ln.weight", Storage.Float32);
        yield return ("v.post_ln.bias", "vision.post_ln.bias", Storage.Float32);

        yield return ("resampler.query", "resampler.query", Storage.Float32);
        yield return ("resampler.kv.weight", "resampler.kv.weight", Storage.Matrix);
        foreach (var part in new[] { "q", "k", "v" })
        {
            yield return ($"resampler.attn.{part}.weight", $"resampler.attn_{part}.weight", Storage.Matrix);
            yield return ($"resampler.attn.{part}.bias", $"resampler.attn_{part}.bias", Storage.Float32);
        }
        yield return ("resampler.attn.out.weight", "resampler.attn_out.weight", Storage.Matrix);
        yield return ("resampler.attn.out.bias", "resampler.attn_out.bias", Storage.Float32);
        foreach (var norm in new[] { "ln_q", "ln_kv", "ln_post" })
            foreach (var p in new[] { "weight", "bias" })
                yield return ($"resampler.{norm}.{p}", $"resampler.{norm}.{p}", Storage.Float32);
        yield return ("resampler.proj.weight", "resampler.proj.weight", Storage.Matrix);
    }
}
