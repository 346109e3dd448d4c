using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Formats.Int4;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Conversion;

/// <summary>Settings of a GPTQ checkpoint written by <see cref="Int4CheckpointWriter.WriteGptq"/>.</summary>
public sealed record GptqWriteOptions
{
    public int GroupSize { get; init; } = 128;
    public bool Symmetric { get; init; } = true;
    /// <summary>Act-order: g_idx assigns inputs to groups in order of decreasing column norm (a stand-in for GPTQ's Hessian diagonal).</summary>
    public bool DescAct { get; init; }
    /// <summary>The old "gptq" format (zero − 1 stored, AutoGPTQ's default) rather than "gptq_v2".</summary>
    public bool ZeroMinusOne { get; init; } = true;
}

/// <summary>
/// Writes a float HF checkpoint as an HF int4 checkpoint in the layouts of the two official MiniCPM int4 repos, so
/// the loaders can be tested on files the engine did not produce by hand:
/// <list type="bullet">
/// <item>MiniCPM-V-2_6-int4: bitsandbytes NF4 with double quantization (blocks of 64, scales 8-bit per 256) of the
/// LLM's q/k/v/o/gate/up/down and the vision tower's q/k/v/fc1/fc2; everything else (embeddings, lm_head, vision
/// out_proj, resampler, norms, biases) kept as it was; config.json gains bitsandbytes' quantization_config.</item>
/// <item>MiniCPM-o-2_6-int4: GPTQ 4-bit (AutoGPTQ tensors) of the LLM linears, biases as F16, and AutoGPTQ's
/// quantize_config.json beside config.json.</item>
/// </list>
/// Tokenizer and generation files of the source folder are copied.
/// </summary>
public static partial class Int4CheckpointWriter
{
    [GeneratedRegex(@"^(?:llm\.)?model\.layers\.\d+\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.weight$")]
    private static partial Regex LlmLinear();

    [GeneratedRegex(@"^vpm\.encoder\.layers\.\d+\.(?:self_attn\.[qkv]_proj|mlp\.fc[12])\.weight$")]
    private static partial Regex VisionLinear();

    private static readonly string[] CopiedFiles =
    [
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
        "added_tokens.json", "generation_config.json", "preprocessor_config.json",
    ];

    public static void WriteNf4(Checkpoint source, string folder)
    {
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        foreach (var tensor in source.Tensors.Tensors)
        {
            if (LlmLinear().IsMatch(tensor.Name) || VisionLinear().IsMatch(tensor.Name)) AddNf4(writer, source.Tensors, tensor);
            else writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, Bytes(source.Tensors, tensor));
        }
        writer.Write(Path.Combine(folder, "model.safetensors"));
        var quantization = new JsonObject
        {
            ["_load_in_4bit"] = true,
            ["_load_in_8bit"] = false,
            ["bnb_4bit_compute_dtype"] = "bfloat16",
            ["bnb_4bit_quant_storage"] = "uint8",
            ["bnb_4bit_quant_type"] = "nf4",
            ["bnb_4bit_use_double_quant"] = true,
            ["llm_int8_enable_fp32_cpu_offload"] = false,
            ["llm_int8_has_fp16_weight"] = false,
            ["llm_int8_skip_modules"] = new JsonArray("out_proj", "kv_proj", "lm_head"),
            ["llm_int8_threshold"] = 6.0,
            ["load_in_4bit"] = true,
            ["load_in_8bit"] = false,
            ["quant_method"] = "bitsandbytes",
        };
        WriteConfig(source, folder, quantization);
        CopyFiles(source, folder);
    }

    public static void WriteGptq(Checkpoint source, string folder, GptqWriteOptions options)
    {
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        var quantized = source.Tensors.Tensors.Where(t => LlmLinear().IsMatch(t.Name)).Select(t => t.Name[..^".weight".Length]).ToHashSet();
        foreach (var tensor in source.Tensors.Tensors)
        {
            if (LlmLinear().IsMatch(tensor.Name)) AddGptq(writer, source.Tensors, tensor, options);
            else if (tensor.Name.EndsWith(".bias", StringComparison.Ordinal) && quantized.Contains(tensor.Name[..^".bias".Length]))
                writer.AddTensor(tensor.Name, TensorType.F16, tensor.Shape, HalfBytes(ReadFloats(source.Tensors, tensor)));
            else writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, Bytes(source.Tensors, tensor));
        }
        writer.Write(Path.Combine(folder, "model.safetensors"));
        WriteConfig(source, folder, quantization: null);
        var quantizeConfig = new JsonObject
        {
            ["bits"] = 4,
            ["group_size"] = options.GroupSize,
            ["damp_percent"] = 0.01,
            ["desc_act"] = options.DescAct,
            ["static_groups"] = false,
            ["sym"] = options.Symmetric,
            ["true_sequential"] = true,
            ["model_name_or_path"] = null,
            ["model_file_base_name"] = null,
            ["quant_method"] = "gptq",
            ["checkpoint_format"] = options.ZeroMinusOne ? "gptq" : "gptq_v2",
        };
        File.WriteAllText(Path.Combine(folder, "quantize_config.json"), quantizeConfig.ToJsonString(new() { WriteIndented = true }));
        CopyFiles(source, folder);
    }

    /// <summary>The bitsandbytes family of one weight: codes, 8-bit scales, their scales, both code books, the JSON state.</summary>
    private static void AddNf4(SafetensorsWriter writer, ITensorFile file, TensorInfo tensor)
    {
        if (tensor.Shape.Length != 2) throw new ModelFormatException(file.SourcePath, $"a linear weight must be 2-D; found {tensor.ShapeText}", tensor.Name);
        var q = Nf4Quantizer.Quantize(ReadFloats(file, tensor));
        string p = tensor.Name;
        writer.AddTensor(p, TensorType.U8, [q.Codes.Length, 1], q.Codes);
        writer.AddTensor(p + ".absmax", TensorType.U8, [q.AbsmaxCodes.Length], q.AbsmaxCodes);
        writer.AddTensor(p + ".nested_absmax", TensorType.F32, [q.NestedAbsmax.Length], FloatBytes(q.NestedAbsmax));
        writer.AddTensor(p + ".nested_quant_map", TensorType.F32, [256], FloatBytes(q.NestedCode));
        writer.AddTensor(p + ".quant_map", TensorType.F32, [16], FloatBytes(q.CodeBook));
        // Python's json.dumps of QuantState.as_dict(packed=True)'s non-tensor entries, in its key order.
        string json = "{\"quant_type\": \"nf4\", \"blocksize\": " + q.BlockSize + ", \"dtype\": \"" + TorchDType(tensor.Type) +
            "\", \"shape\": [" + tensor.Shape[0] + ", " + tensor.Shape[1] + "], \"nested_blocksize\": " + q.NestedBlockSize +
            ", \"nested_dtype\": \"float32\", \"nested_offset\": " + ((double)q.NestedOffset).ToString("R", CultureInfo.InvariantCulture) + "}";
        var state = Encoding.UTF8.GetBytes(json);
        writer.AddTensor(p + ".quant_state.bitsandbytes__nf4", TensorType.U8, [state.Length], state);
    }

    private static void AddGptq(SafetensorsWriter writer, ITensorFile file, TensorInfo tensor, GptqWriteOptions options)
    {
        if (tensor.Shape.Length != 2) throw new ModelFormatException(file.SourcePath, $"a linear weight must be 2-D; found {tensor.ShapeText}", tensor.Name);
        int rows = checked((int)tensor.Shape[0]), cols = checked((int)tensor.Shape[1]);
        var weights = ReadFloats(file, tensor);
        int groupSize = options.GroupSize == -1 ? cols : options.GroupSize;
        int[]? groupIndex = null;
        if (options.DescAct)
        {
            var norm = new double[cols];
            for (int o = 0; o < rows; o++)
                for (int i = 0; i < cols; i++) norm[i] += (double)weights[o * cols + i] * weights[o * cols + i];
            var order = Enumerable.Range(0, cols).OrderByDescending(i => norm[i]).ThenBy(i => i).ToArray();
            groupIndex = new int[cols];
            for (int k = 0; k < cols; k++) groupIndex[order[k]] = k / groupSize;
        }
        var q = GptqQuantizer.Quantize(weights, rows, cols, groupSize, options.Symmetric, options.ZeroMinusOne ? 1 : 0, groupIndex);
        string p = tensor.Name[..^".weight".Length];
        writer.AddTensor(p + ".qweight", TensorType.I32, [cols / 8, rows], IntBytes(q.QWeight));
        writer.AddTensor(p + ".qzeros", TensorType.I32, [q.Groups, rows / 8], IntBytes(q.QZeros));
        writer.AddTensor(p + ".scales", TensorType.F16, [q.Groups, rows], MemoryMarshal.AsBytes(q.Scales.AsSpan()).ToArray());
        writer.AddTensor(p + ".g_idx", TensorType.I32, [cols], IntBytes(q.GroupIndex));
    }

    private static void WriteConfig(Checkpoint source, string folder, JsonObject? quantization)
    {
        string configPath = CheckpointFiles.ConfigJsonFor(source.SourcePath) ?? throw new ModelFormatException(source.SourcePath, "no config.json beside the checkpoint");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        if (quantization is not null) config["quantization_config"] = quantization;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new() { WriteIndented = true }));
    }

    private static void CopyFiles(Checkpoint source, string folder)
    {
        string from = Directory.Exists(source.SourcePath) ? source.SourcePath : Path.GetDirectoryName(Path.GetFullPath(source.SourcePath))!;
        foreach (var name in CopiedFiles)
            if (File.Exists(Path.Combine(from, name))) File.Copy(Path.Combine(from, name), Path.Combine(folder, name), overwrite: true);
    }

    private static string TorchDType(TensorType type) => type switch
    {
        TensorType.BF16 => "bfloat16",
        TensorType.F16 => "float16",
        _ => "float32",
    };

    private static byte[] Bytes(ITensorFile file, TensorInfo tensor) => file.GetData(tensor).AsSpan().ToArray();

    private static float[] ReadFloats(ITensorFile file, TensorInfo tensor)
    {
        var values = new float[tensor.ElementCount];
        Dequantizer.ToFloat(tensor.Type, file.GetData(tensor).AsSpan(), values);
        return values;
    }

    private static byte[] FloatBytes(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    private static byte[] IntBytes(int[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    private static byte[] HalfBytes(float[] values) => MemoryMarshal.AsBytes(values.Select(Fp16.FromFloat).ToArray().AsSpan()).ToArray();
}
