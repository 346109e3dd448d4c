using System.Text.Json;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Configuration;

/// <summary>
/// Reads a Hugging Face `config.json` of MiniCPM-V 2.6 (`model_type` minicpmv), MiniCPM-o 2.6 (minicpmo) or plain
/// Qwen2 (qwen2) into a <see cref="ModelConfig"/>. Absent keys take the defaults of the remote config classes.
/// </summary>
public static class HfConfigReader
{
    /// <summary>A config.json is a few kB; anything past this is not one.</summary>
    private const long MaxConfigBytes = 16 << 20;

    public static ModelConfig Read(string configPath)
    {
        if (!File.Exists(configPath)) throw new ModelFormatException(configPath, "config.json not found");
        var length = new FileInfo(configPath).Length;
        if (length > MaxConfigBytes) throw new ModelFormatException(configPath, $"config.json is {length} bytes; refusing more than {MaxConfigBytes}");
        var config = Parse(File.ReadAllBytes(configPath), configPath);
        // AutoGPTQ writes its settings beside config.json rather than into it.
        var autoGptq = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, "quantize_config.json");
        if (config.Quantization is null && File.Exists(autoGptq))
            config = config with { Quantization = ReadQuantizeConfig(autoGptq) };
        return config;
    }

    private static QuantizationConfig ReadQuantizeConfig(string path)
    {
        if (new FileInfo(path).Length > MaxConfigBytes) throw new ModelFormatException(path, "quantize_config.json is too large");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "quantize_config.json must be a JSON object");
            var section = new JsonSection(document.RootElement, path, "");
            return QuantizationConfig.Read(section, path);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"quantize_config.json is not valid JSON: {e.Message}", inner: e);
        }
    }

    public static ModelConfig Parse(ReadOnlySpan<byte> json, string sourceName)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 32, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(sourceName, $"config.json is not valid JSON: {e.Message}", inner: e);
        }
        using (document)
        {
            var root = new JsonSection(document.RootElement, sourceName, "");
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(sourceName, "config.json must be a JSON object");
            var modelType = root.String("model_type") ?? "";
            var family = modelType switch
            {
                "minicpmv" => ModelFamily.MiniCPMV26,
                "minicpmo" => ModelFamily.MiniCPMO26,
                "qwen2" => ModelFamily.Qwen2,
                _ => throw new ModelFormatException(sourceName, $"unsupported model_type '{modelType}' (expected minicpmv, minicpmo or qwen2)"),
            };
            if (family == ModelFamily.MiniCPMV26)
            {
                var version = root.Raw("version");
                if (version is not null && version.Trim('"') is not ("2.6" or "2.60"))
                    throw new ModelFormatException(sourceName, $"MiniCPM-V version {version} is not supported (only 2.6)");
            }

            var llm = ReadLlm(root);
            bool multimodal = family is ModelFamily.MiniCPMV26 or ModelFamily.MiniCPMO26;
            bool hasVision = multimodal && (root.Bool("init_vision") ?? true);
            bool hasAudio = family == ModelFamily.MiniCPMO26 && (root.Bool("init_audio") ?? true);
            bool hasTts = family == ModelFamily.MiniCPMO26 && (root.Bool("init_tts") ?? true);

            VisionConfig? vision = hasVision ? ReadVision(root) : null;
            var config = new ModelConfig
            {
                Family = family,
                Source = sourceName,
                Llm = llm,
                Vision = vision,
                Resampler = vision is null ? null : new ResamplerConfig
                {
                    Queries = root.Int("query_num") ?? 64,
                    EmbedDim = llm.HiddenSize,
                    KvDim = vision.HiddenSize,
                },
                Slicing = hasVision ? ReadSlicing(root) : null,
                Audio = hasAudio ? ReadAudio(root) : null,
                HasTts = hasTts,
                Quantization = root.Section("quantization_config") is { } q ? QuantizationConfig.Read(q, sourceName) : null,
            };
            var problems = config.Problems();
            if (problems.Count > 0) throw new ModelFormatException(sourceName, "inconsistent configuration: " + string.Join("; ", problems));
            return config;
        }
    }

    private static LlmConfig ReadLlm(JsonSection root) => new()
    {
        HiddenSize = root.RequiredInt("hidden_size"),
        Layers = root.RequiredInt("num_hidden_layers"),
        Heads = root.RequiredInt("num_attention_heads"),
        KvHeads = root.Int("num_key_value_heads") ?? root.RequiredInt("num_attention_heads"),
        IntermediateSize = root.RequiredInt("intermediate_size"),
        VocabSize = root.RequiredInt("vocab_size"),
        MaxPositions = root.Int("max_position_embeddings") ?? 32768,
        RopeTheta = root.Double("rope_theta") ?? 1_000_000.0,
        RmsNormEps = root.Double("rms_norm_eps") ?? 1e-6,
        TieWordEmbeddings = root.Bool("tie_word_embeddings") ?? false,
        BosTokenId = root.Int("bos_token_id"),
        EosTokenId = root.Int("eos_token_id"),
    };

    // Defaults below are MiniCPMVConfig.default_vision_config and SiglipVisionConfig's defaults.
    private static VisionConfig ReadVision(JsonSection root)
    {
        var v = root.Section("vision_config");
        return new VisionConfig
        {
            HiddenSize = v?.Int("hidden_size") ?? 1152,
            IntermediateSize = v?.Int("intermediate_size") ?? 4304,
            Heads = v?.Int("num_attention_heads") ?? 16,
            Layers = v?.Int("num_hidden_layers") ?? 27,
            PatchSize = v?.Int("patch_size") ?? 14,
            ImageSize = v?.Int("image_size") ?? 980,
            LayerNormEps = v?.Double("layer_norm_eps") ?? 1e-6,
            Activation = v?.String("hidden_act") ?? "gelu_pytorch_tanh",
            DropLastLayer = root.Bool("drop_vision_last_layer") ?? true,
        };
    }

    private static SliceConfig ReadSlicing(JsonSection root)
    {
        var s = root.Section("slice_config");
        return new SliceConfig
        {
            MaxSliceNums = s?.Int("max_slice_nums") ?? 9,
            ScaleResolution = s?.Int("scale_resolution") ?? 448,
            PatchSize = s?.Int("patch_size") ?? 14,
            SliceMode = root.Bool("slice_mode") ?? true,
            UseImageId = root.Bool("use_image_id") ?? true,
        };
    }

    // Defaults: Whisper-medium, as MiniCPM-o 2.6 ships it.
    private static AudioConfig ReadAudio(JsonSection root)
    {
        var a = root.Section("audio_config");
        return new AudioConfig
        {
            DModel = a?.Int("d_model") ?? 1024,
            Layers = a?.Int("encoder_layers") ?? 24,
            Heads = a?.Int("encoder_attention_heads") ?? 16,
            FfnDim = a?.Int("encoder_ffn_dim") ?? 4096,
            MelBins = a?.Int("num_mel_bins") ?? 80,
            MaxSourcePositions = a?.Int("max_source_positions") ?? 1500,
            Activation = a?.String("activation_function") ?? "gelu",
            PoolStep = root.Int("audio_pool_step") ?? 2,
            ChunkLengthSeconds = root.Double("audio_chunk_length") ?? 1.0,
        };
    }
}
