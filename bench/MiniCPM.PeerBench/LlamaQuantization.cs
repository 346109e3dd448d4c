using LLama;
using LLama.Native;

namespace MiniCPM.PeerBench;

/// <summary>llama.cpp's quantizer (llama_model_quantize through LLamaSharp) for the peer comparison's quantized files.</summary>
internal static class LlamaQuantization
{
    private static readonly Dictionary<string, LLamaFtype> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q8_0"] = LLamaFtype.MOSTLY_Q8_0,
        ["q4_0"] = LLamaFtype.MOSTLY_Q4_0,
        ["q4_1"] = LLamaFtype.MOSTLY_Q4_1,
        ["q5_0"] = LLamaFtype.MOSTLY_Q5_0,
        ["q5_1"] = LLamaFtype.MOSTLY_Q5_1,
        ["q2_k"] = LLamaFtype.MOSTLY_Q2_K,
        ["q3_k_m"] = LLamaFtype.MOSTLY_Q3_K_M,
        ["q4_k_s"] = LLamaFtype.MOSTLY_Q4_K_S,
        ["q4_k_m"] = LLamaFtype.MOSTLY_Q4_K_M,
        ["q5_k_s"] = LLamaFtype.MOSTLY_Q5_K_S,
        ["q5_k_m"] = LLamaFtype.MOSTLY_Q5_K_M,
        ["q6_k"] = LLamaFtype.MOSTLY_Q6_K,
    };

    public static bool IsQuantized(string dtype) => Types.ContainsKey(dtype);

    public static void Quantize(string source, string destination, string dtype, int threads)
    {
        _ = LlamaCppSubject.EnsureNativeLoaded();
        if (!LLamaQuantizer.Quantize(source, destination, Types[dtype], threads, allowRequantize: true, quantizeOutputTensor: false))
            throw new InvalidOperationException($"llama.cpp could not quantize {source} to {dtype}");
    }
}
