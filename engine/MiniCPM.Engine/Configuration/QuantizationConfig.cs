using MiniCPM.Loaders;

namespace MiniCPM.Engine.Configuration;

/// <summary>The int4 schemes of Hugging Face checkpoints the engine reads.</summary>
public enum QuantizationMethod
{
    /// <summary>bitsandbytes 4-bit (MiniCPM-V-2_6-int4: NF4 with double-quantized scales).</summary>
    Bitsandbytes,
    /// <summary>GPTQ in AutoGPTQ's layout (MiniCPM-o-2_6-int4).</summary>
    Gptq,
}

/// <summary>
/// A checkpoint's <c>quantization_config</c> (config.json) or AutoGPTQ's <c>quantize_config.json</c>: what the
/// quantized layers are. The layers themselves carry their exact parameters (bitsandbytes' per-tensor quant state,
/// GPTQ's tensors); this says how to read them and is what `minicpm info` shows.
/// </summary>
public sealed record QuantizationConfig
{
    public required QuantizationMethod Method { get; init; }
    public int Bits { get; init; } = 4;
    /// <summary>bitsandbytes: nf4 or fp4.</summary>
    public string? QuantType { get; init; }
    /// <summary>bitsandbytes: block scales double-quantized.</summary>
    public bool DoubleQuant { get; init; }
    /// <summary>GPTQ: inputs per scale/zero group; −1 is one group per row.</summary>
    public int GroupSize { get; init; } = 128;
    /// <summary>GPTQ act-order: g_idx permutes the inputs' groups.</summary>
    public bool DescAct { get; init; }
    public bool Symmetric { get; init; } = true;
    /// <summary>
    /// GPTQ: stored zero = zero − 1 (AutoGPTQ's original "gptq" format, the default) or the zero itself ("gptq_v2").
    /// </summary>
    public bool ZeroMinusOne { get; init; } = true;

    public string Describe() => Method switch
    {
        QuantizationMethod.Bitsandbytes => $"bitsandbytes {Bits}-bit {QuantType ?? "nf4"}{(DoubleQuant ? ", double-quantized scales" : "")}",
        _ => $"GPTQ {Bits}-bit, group size {GroupSize}, {(Symmetric ? "symmetric" : "asymmetric")}{(DescAct ? ", act-order" : "")}, {(ZeroMinusOne ? "gptq (zero − 1 stored)" : "gptq_v2")} format",
    };

    /// <summary>Reads a quantization_config section; null when it describes no scheme this engine reads.</summary>
    internal static QuantizationConfig Read(JsonSection q, string sourceName)
    {
        string method = (q.String("quant_method") ?? (q.Int("bits") is not null ? "gptq" : "")).ToLowerInvariant();
        switch (method)
        {
            case "bitsandbytes":
                if (q.Bool("load_in_8bit") == true)
                    throw new ModelFormatException(sourceName, "bitsandbytes 8-bit (LLM.int8) checkpoints are not supported; only 4-bit");
                return new QuantizationConfig
                {
                    Method = QuantizationMethod.Bitsandbytes,
                    Bits = 4,
                    QuantType = q.String("bnb_4bit_quant_type") ?? "fp4",
                    DoubleQuant = q.Bool("bnb_4bit_use_double_quant") ?? false,
                };
            case "gptq":
                int bits = q.Int("bits") ?? 4;
                if (bits != 4) throw new ModelFormatException(sourceName, $"GPTQ with {bits} bits is not supported; only 4-bit");
                string format = (q.String("checkpoint_format") ?? "gptq").ToLowerInvariant();
                if (format is not ("gptq" or "gptq_v2"))
                    throw new ModelFormatException(sourceName, $"GPTQ checkpoint_format '{format}' is not supported (gptq or gptq_v2)");
                return new QuantizationConfig
                {
                    Method = QuantizationMethod.Gptq,
                    Bits = bits,
                    GroupSize = q.Int("group_size") ?? 128,
                    DescAct = q.Bool("desc_act") ?? false,
                    Symmetric = q.Bool("sym") ?? true,
                    ZeroMinusOne = format == "gptq",
                };
            default:
                throw new ModelFormatException(sourceName, $"quantization method '{method}' is not supported (bitsandbytes 4-bit and GPTQ 4-bit are)");
        }
    }
}
