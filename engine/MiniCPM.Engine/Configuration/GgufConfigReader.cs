using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Configuration;

/// <summary>
/// Reads the configuration out of GGUF metadata: a text model (`general.architecture` = qwen2, keys `qwen2.*`) or a
/// llama.cpp vision projector (`clip`, keys `clip.*`, MiniCPM-V 2.6 = minicpmv_version 3, MiniCPM-o 2.6 = 4).
/// </summary>
public static class GgufConfigReader
{
    public static ModelConfig Read(GgufFile file)
    {
        var architecture = RequiredString(file, "general.architecture");
        var config = architecture switch
        {
            "qwen2" => ReadQwen2(file),
            "clip" => ReadClip(file),
            _ => throw new ModelFormatException(file.SourcePath, $"GGUF architecture '{architecture}' is not supported (expected qwen2 or clip)"),
        };
        var problems = config.Problems();
        if (problems.Count > 0) throw new ModelFormatException(file.SourcePath, "inconsistent configuration: " + string.Join("; ", problems));
        return config;
    }

    private static ModelConfig ReadQwen2(GgufFile file)
    {
        const string a = "qwen2";
        int heads = RequiredInt(file, $"{a}.attention.head_count");
        // The vocabulary size is the embedding table's row count; the tokenizer array may be absent.
        var embedding = file.Find("token_embd.weight") ?? throw new ModelFormatException(file.SourcePath, "tensor 'token_embd.weight' is missing");
        var llm = new LlmConfig
        {
            HiddenSize = RequiredInt(file, $"{a}.embedding_length"),
            Layers = RequiredInt(file, $"{a}.block_count"),
            Heads = heads,
            KvHeads = OptionalInt(file, $"{a}.attention.head_count_kv") ?? heads,
            IntermediateSize = RequiredInt(file, $"{a}.feed_forward_length"),
            VocabSize = checked((int)embedding.Shape[0]),
            MaxPositions = OptionalInt(file, $"{a}.context_length") ?? 32768,
            RopeTheta = OptionalDouble(file, $"{a}.rope.freq_base") ?? 1_000_000.0,
            RmsNormEps = OptionalDouble(file, $"{a}.attention.layer_norm_rms_epsilon") ?? 1e-6,
            TieWordEmbeddings = file.Find("output.weight") is null,
            BosTokenId = OptionalInt(file, "tokenizer.ggml.bos_token_id"),
            EosTokenId = OptionalInt(file, "tokenizer.ggml.eos_token_id"),
        };
        return new ModelConfig { Family = ModelFamily.Qwen2, Source = file.SourcePath, Llm = llm };
    }

    private static ModelConfig ReadClip(GgufFile file)
    {
        if (OptionalBool(file, "clip.has_vision_encoder") == false)
            throw new ModelFormatException(file.SourcePath, "clip file has no vision encoder");
        var projector = OptionalString(file, "clip.projector_type");
        if (projector is not null && projector != "resampler")
            throw new ModelFormatException(file.SourcePath, $"clip.projector_type '{projector}' is not MiniCPM-V's resampler");
        var version = OptionalInt(file, "clip.minicpmv_version") ?? 2;
        if (version is not (3 or 4))
            throw new ModelFormatException(file.SourcePath, $"clip.minicpmv_version {version} is not MiniCPM-V 2.6 (3) or MiniCPM-o 2.6 (4)");

        var vision = new VisionConfig
        {
            HiddenSize = RequiredInt(file, "clip.vision.embedding_length"),
            IntermediateSize = RequiredInt(file, "clip.vision.feed_forward_length"),
            Heads = RequiredInt(file, "clip.vision.attention.head_count"),
            Layers = RequiredInt(file, "clip.vision.block_count"),
            PatchSize = OptionalInt(file, "clip.vision.patch_size") ?? 14,
            // clip.vision.image_size holds the slice resolution (448); the position table is what fixes the grid side.
            ImageSize = PositionGridSide(file) * (OptionalInt(file, "clip.vision.patch_size") ?? 14),
            LayerNormEps = OptionalDouble(file, "clip.vision.attention.layer_norm_epsilon") ?? 1e-6,
            Activation = OptionalBool(file, "clip.use_gelu") == false ? "gelu_quick" : "gelu_pytorch_tanh",
            DropLastLayer = false,
            ImageMean = FloatTriple(file, "clip.vision.image_mean"),
            ImageStd = FloatTriple(file, "clip.vision.image_std"),
        };
        var query = file.Find("resampler.query") ?? throw new ModelFormatException(file.SourcePath, "tensor 'resampler.query' is missing");
        if (query.Shape.Length != 2) throw new ModelFormatException(file.SourcePath, $"resampler.query must be 2-D, found {query.ShapeText}", query.Name);
        var resampler = new ResamplerConfig
        {
            Queries = OptionalInt(file, "clip.minicpmv_query_num") ?? checked((int)query.Shape[0]),
            EmbedDim = checked((int)query.Shape[1]),
            KvDim = vision.HiddenSize,
        };
        var slicing = new SliceConfig { ScaleResolution = OptionalInt(file, "clip.vision.image_size") ?? 448, PatchSize = vision.PatchSize };
        return new ModelConfig
        {
            Family = ModelFamily.VisionProjector,
            Source = file.SourcePath,
            Vision = vision,
            Resampler = resampler,
            Slicing = slicing,
        };
    }

    /// <summary>Side of the square position-embedding grid (70 for 4900 rows).</summary>
    private static int PositionGridSide(GgufFile file)
    {
        var table = file.Find("v.position_embd.weight");
        if (table is null || table.Shape.Length != 2) return 70;
        int side = (int)Math.Round(Math.Sqrt(table.Shape[0]));
        if ((long)side * side != table.Shape[0])
            throw new ModelFormatException(file.SourcePath, $"vision position table has {table.Shape[0]} rows, not a square grid", table.Name);
        return side;
    }

    private static float[] FloatTriple(GgufFile file, string key)
    {
        if (file.Get(key) is null) return [0.5f, 0.5f, 0.5f];
        var floats = file.Require(key, v => v.AsArray<float>());
        if (floats.Length != 3) throw new ModelFormatException(file.SourcePath, $"metadata '{key}' must hold 3 floats, found {floats.Length}");
        return floats;
    }

    private static string RequiredString(GgufFile file, string key) => file.Require(key, v => v.AsString());

    private static int RequiredInt(GgufFile file, string key) => file.Require(key, v => v.AsInt32());

    private static int? OptionalInt(GgufFile file, string key) => file.Get(key) is null ? null : file.Require(key, v => v.AsInt32());

    private static double? OptionalDouble(GgufFile file, string key) => file.Get(key) is null ? null : file.Require(key, v => v.AsDouble());

    private static bool? OptionalBool(GgufFile file, string key) => file.Get(key) is null ? null : file.Require(key, v => v.AsBool());

    private static string? OptionalString(GgufFile file, string key) => file.Get(key) is null ? null : file.Require(key, v => v.AsString());
}
