using System.Globalization;
using System.Text.Json;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Synthetic;

/// <summary>How a synthetic model is stored.</summary>
public enum SyntheticModelFormat
{
    /// <summary>One llama.cpp `qwen2` GGUF file with the tokenizer in its metadata.</summary>
    Gguf,
    /// <summary>A MiniCPM-V-style HF folder: config.json, model.safetensors (`llm.` names), tokenizer.json + config.</summary>
    HfFolder,
}

/// <summary>One tensor of a planned file: its name in that file, shape (outermost first), type and byte size.</summary>
public sealed record PlannedTensor(string Name, long[] Shape, TensorType Type, long Bytes);

/// <summary>
/// Writes deterministic random-weight Qwen2 models in the real layout (see <see cref="SyntheticWeights"/> for the
/// values, <see cref="SyntheticVocabulary"/> for the tokenizer). Weights are generated and encoded a chunk of rows at
/// a time while the file is written, so even the 7B shape (about 15 GB in F16) needs only a few MB of memory.
/// The same spec and seed give byte-identical files, and the same values in both formats.
/// </summary>
public static class SyntheticModel
{
    /// <summary>The types a synthetic model can be written in.</summary>
    public static bool IsSupportedType(TensorType type) => type is TensorType.F32 or TensorType.F16 or TensorType.BF16;

    /// <summary>The tensors the file will hold, without writing anything (sizes of the big presets, dry runs).</summary>
    public static IReadOnlyList<PlannedTensor> Plan(SyntheticModelSpec spec, TensorType type, SyntheticModelFormat format)
    {
        RequireType(type);
        var list = SyntheticWeights.List(spec.Llm);
        if (format == SyntheticModelFormat.HfFolder)
        {
            var hf = AllTensors(spec).Select(t => Planned(HfName(t.EngineName), t.Shape, type)).ToList();
            if (spec.Vision is { } v)
                hf.AddRange(SyntheticVision.HfTensors(v, spec.Resampler!, 0).Select(t => Planned(t.Name, t.Shape, type)));
            return hf;
        }
        RequireTextOnly(spec);
        var tensors = list.ToDictionary(t => t.EngineName);
        var gguf = Qwen2Gguf.Tensors(spec.Llm)
            .Select(t => Planned(t.GgufName, tensors[t.EngineName].Shape, t.IsMatrix ? type : TensorType.F32))
            .ToList();
        if (spec.Vision is { } vision)
        {
            var visionTensors = SyntheticVision.List(vision, spec.Resampler!).ToDictionary(t => t.EngineName);
            var kernelType = type == TensorType.F32 ? TensorType.F32 : TensorType.F16;
            gguf.AddRange(MmprojGguf.Tensors(vision).Select(t => Planned(t.GgufName, visionTensors[t.EngineName].Shape,
                t.Storage switch { MmprojGguf.Storage.Matrix => type, MmprojGguf.Storage.Kernel => kernelType, _ => TensorType.F32 })));
            int side = spec.Resampler!.MaxGridSide;
            gguf.Add(Planned("resampler.pos_embed_k", [side * side, spec.Resampler.EmbedDim], TensorType.F32));
        }
        return gguf;
    }

    /// <summary>Where <see cref="WriteGguf"/> puts the mmproj of a model with a vision tower: mmproj-NAME beside it.</summary>
    public static string MmprojPathFor(string ggufPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(ggufPath)) ?? "", "mmproj-" + Path.GetFileName(ggufPath));

    /// <summary>Writes the vision tower and resampler of <paramref name="spec"/> as a llama.cpp MiniCPM-V 2.6 mmproj GGUF.</summary>
    public static void WriteVisionProjector(SyntheticModelSpec spec, string path, TensorType type, ulong seed = 0)
    {
        RequireType(type);
        var vision = spec.Vision ?? throw new ArgumentException($"preset '{spec.Name}' has no vision tower", nameof(spec));
        var tensors = SyntheticVision.List(vision, spec.Resampler!).ToDictionary(t => t.EngineName);
        MmprojGguf.Write(path, vision, spec.Resampler!, 448, type, minicpmvVersion: 3,
            engineName => SyntheticWeights.Rows(tensors[engineName], seed));
    }

    /// <summary>
    /// Writes <paramref name="spec"/> as a GGUF file (tokenizer included) at <paramref name="path"/>, and a model with a
    /// vision tower also as its mmproj at <see cref="MmprojPathFor"/>.
    /// </summary>
    public static void WriteGguf(SyntheticModelSpec spec, string path, TensorType type, ulong seed = 0)
    {
        RequireType(type);
        RequireTextOnly(spec);
        var tensors = SyntheticWeights.List(spec.Llm).ToDictionary(t => t.EngineName);
        var vocab = SyntheticVocabulary.Build(spec.Llm.VocabSize);
        Qwen2Gguf.Write(path, spec.Llm, spec.Name, type,
            engineName => SyntheticWeights.Rows(tensors[engineName], seed),
            SyntheticTokenizerFiles.GgufMetadata(vocab));
        if (spec.HasVision) WriteVisionProjector(spec, MmprojPathFor(path), type, seed);
    }

    /// <summary>
    /// Writes <paramref name="spec"/> as a MiniCPM-V-style HF folder: with its `vpm.*` and `resampler.*` tensors when it
    /// has a vision tower, else text only (config.json says init_vision false). Every tensor, norms included, is stored
    /// in <paramref name="type"/>, as HF checkpoints do.
    /// </summary>
    public static void WriteHfFolder(SyntheticModelSpec spec, string folder, TensorType type, ulong seed = 0)
    {
        RequireType(type);
        Directory.CreateDirectory(folder);
        var vocab = SyntheticVocabulary.Build(spec.Llm.VocabSize);
        WriteConfigJson(spec, type, seed, Path.Combine(folder, "config.json"));
        SyntheticTokenizerFiles.WriteTokenizerJson(vocab, Path.Combine(folder, "tokenizer.json"));
        SyntheticTokenizerFiles.WriteTokenizerConfig(vocab, Path.Combine(folder, "tokenizer_config.json"));

        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        foreach (var tensor in AllTensors(spec))
        {
            var rows = SyntheticWeights.Rows(tensor, seed);
            writer.AddTensor(HfName(tensor.EngineName), type, tensor.Shape, stream => rows.WriteEncoded(stream, type));
        }
        if (spec.Vision is { } vision)
            foreach (var (name, shape, rows) in SyntheticVision.HfTensors(vision, spec.Resampler!, seed))
                writer.AddTensor(name, type, shape, stream => rows.WriteEncoded(stream, type));
        writer.Write(Path.Combine(folder, "model.safetensors"));
    }

    /// <summary>The MiniCPM-V checkpoint name of an engine weight (the inverse of <see cref="HfWeightNames"/>'s rules).</summary>
    public static string HfName(string engineName)
    {
        if (engineName.StartsWith("audio", StringComparison.Ordinal)) return SyntheticAudioWeights.HfName(engineName);
        if (engineName == WeightNames.TokenEmbedding) return "llm.model.embed_tokens.weight";
        if (engineName == WeightNames.OutputNorm) return "llm.model.norm.weight";
        if (engineName == WeightNames.Output) return "llm.lm_head.weight";
        var parts = engineName.Split('.', 4); // llm, blk, i, rest
        if (parts is not ["llm", "blk", var layer, var rest])
            throw new ArgumentException($"'{engineName}' is not a language-model weight", nameof(engineName));
        string module = rest switch
        {
            "attn_norm.weight" => "input_layernorm.weight",
            "ffn_norm.weight" => "post_attention_layernorm.weight",
            "attn_output.weight" => "self_attn.o_proj.weight",
            _ when rest.StartsWith("attn_", StringComparison.Ordinal) => $"self_attn.{rest[5]}_proj{rest[6..]}", // attn_q.bias → self_attn.q_proj.bias
            _ when rest.StartsWith("ffn_", StringComparison.Ordinal) => $"mlp.{rest[4..rest.IndexOf('.')]}_proj{rest[rest.IndexOf('.')..]}",
            _ => throw new ArgumentException($"'{engineName}' is not a language-model weight", nameof(engineName)),
        };
        return $"llm.model.layers.{layer}.{module}";
    }

    /// <summary>The LLM's tensors, then the audio encoder's and projection's when the preset has them.</summary>
    private static IEnumerable<SyntheticTensor> AllTensors(SyntheticModelSpec spec) =>
        spec.Audio is null ? SyntheticWeights.List(spec.Llm) : SyntheticWeights.List(spec.Llm).Concat(SyntheticAudioWeights.List(spec.Audio, spec.Llm.HiddenSize));

    /// <summary>llama.cpp's text GGUF has no place for MiniCPM-o's audio encoder.</summary>
    private static void RequireTextOnly(SyntheticModelSpec spec)
    {
        if (spec.Audio is not null)
            throw new NotSupportedException($"preset '{spec.Name}' has an audio encoder, which only an HF folder holds; write it to a folder, not a .gguf file");
    }

    private static PlannedTensor Planned(string name, long[] shape, TensorType type) =>
        new(name, shape, type, type.TensorBytes(shape) ?? throw new InvalidOperationException($"{name} cannot be stored as {type}"));

    private static void WriteConfigJson(SyntheticModelSpec spec, TensorType type, ulong seed, string path)
    {
        var llm = spec.Llm;
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartArray("architectures");
        json.WriteStringValue(spec.Audio is null ? "MiniCPMV" : "MiniCPMO");
        json.WriteEndArray();
        json.WriteString("model_type", spec.Audio is null ? "minicpmv" : "minicpmo");
        json.WritePropertyName("version");
        json.WriteRawValue("2.6"); // a number in MiniCPM-V 2.6's own config.json
        json.WriteBoolean("init_vision", spec.HasVision);
        if (spec.Vision is { } vision) WriteVisionConfig(json, vision, spec.Resampler!);
        json.WriteString("hidden_act", "silu");
        json.WriteNumber("hidden_size", llm.HiddenSize);
        json.WriteNumber("intermediate_size", llm.IntermediateSize);
        json.WriteNumber("num_hidden_layers", llm.Layers);
        json.WriteNumber("num_attention_heads", llm.Heads);
        json.WriteNumber("num_key_value_heads", llm.KvHeads);
        json.WriteNumber("vocab_size", llm.VocabSize);
        json.WriteNumber("max_position_embeddings", llm.MaxPositions);
        json.WriteNumber("rope_theta", llm.RopeTheta);
        json.WriteNumber("rms_norm_eps", llm.RmsNormEps);
        json.WriteBoolean("tie_word_embeddings", llm.TieWordEmbeddings);
        if (llm.BosTokenId is { } bos) json.WriteNumber("bos_token_id", bos);
        if (llm.EosTokenId is { } eos) json.WriteNumber("eos_token_id", eos);
        json.WriteString("torch_dtype", type switch { TensorType.F32 => "float32", TensorType.F16 => "float16", _ => "bfloat16" });
        json.WriteBoolean("use_sliding_window", false);
        if (spec.Audio is { } audio) WriteAudioConfig(json, audio);
        // Provenance: how to make the identical folder again.
        json.WriteString("synthetic", string.Create(CultureInfo.InvariantCulture, $"minicpm make-model --preset {spec.Name} --seed {seed}"));
        json.WriteEndObject();
    }

    /// <summary>MiniCPM-V 2.6's vision keys: all layers kept, the default UHD slicing, image ids on.</summary>
    private static void WriteVisionConfig(Utf8JsonWriter json, Configuration.VisionConfig vision, Configuration.ResamplerConfig resampler)
    {
        json.WriteNumber("query_num", resampler.Queries);
        json.WriteNumber("image_size", 448);
        json.WriteNumber("patch_size", vision.PatchSize);
        json.WriteBoolean("drop_vision_last_layer", false);
        json.WriteBoolean("slice_mode", true);
        json.WriteBoolean("use_image_id", true);
        json.WriteStartObject("slice_config");
        json.WriteNumber("max_slice_nums", 9);
        json.WriteNumber("patch_size", vision.PatchSize);
        json.WriteNumber("scale_resolution", 448);
        json.WriteEndObject();
        json.WriteStartObject("vision_config");
        json.WriteString("model_type", "siglip");
        json.WriteNumber("hidden_size", vision.HiddenSize);
        json.WriteNumber("intermediate_size", vision.IntermediateSize);
        json.WriteNumber("num_attention_heads", vision.Heads);
        json.WriteNumber("num_hidden_layers", vision.Layers);
        json.WriteNumber("patch_size", vision.PatchSize);
        json.WriteNumber("image_size", vision.ImageSize);
        json.WriteString("hidden_act", vision.Activation);
        json.WriteNumber("layer_norm_eps", vision.LayerNormEps);
        json.WriteEndObject();
    }

    /// <summary>MiniCPM-o's audio keys: the Whisper `audio_config`, pooling and chunking, and no TTS head.</summary>
    private static void WriteAudioConfig(Utf8JsonWriter json, Configuration.AudioConfig audio)
    {
        json.WriteBoolean("init_audio", true);
        json.WriteBoolean("init_tts", false);
        json.WriteNumber("audio_pool_step", audio.PoolStep);
        json.WriteNumber("audio_chunk_length", audio.ChunkLengthSeconds);
        json.WriteBoolean("chunk_input", true);
        json.WriteStartObject("audio_config");
        json.WriteString("model_type", "whisper");
        json.WriteNumber("d_model", audio.DModel);
        json.WriteNumber("encoder_layers", audio.Layers);
        json.WriteNumber("encoder_attention_heads", audio.Heads);
        json.WriteNumber("encoder_ffn_dim", audio.FfnDim);
        json.WriteNumber("num_mel_bins", audio.MelBins);
        json.WriteNumber("max_source_positions", audio.MaxSourcePositions);
        json.WriteString("activation_function", audio.Activation);
        json.WriteEndObject();
    }

    private static void RequireType(TensorType type)
    {
        if (!IsSupportedType(type)) throw new NotSupportedException($"synthetic models are written in F32, F16 or BF16, not {type}");
    }
}
