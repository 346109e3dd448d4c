using LLama.Native;

namespace MiniCPM.LlamaCpp.Tests.LlamaCpp;

/// <summary>llama.cpp's own quantizer (<c>llama_model_quantize</c>, what the llama-quantize tool runs), without an imatrix.</summary>
internal static class LlamaCppQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="source"/> to <paramref name="destination"/> as <paramref name="fileType"/>;
    /// <paramref name="pure"/> is llama-quantize's --pure (every quantizable tensor in the file type's base type).
    /// </summary>
    public static void Quantize(string source, string destination, LLamaFtype fileType, bool pure = false, int threads = 2)
    {
        LlamaCppModel.EnsureNativeLoaded();
        var parameters = LLamaModelQuantizeParams.Default();
        parameters.ftype = fileType;
        parameters.nthread = threads;
        parameters.pure = pure;
        LlamaCppLog.Clear();
        uint result = NativeApi.llama_model_quantize(source, destination, ref parameters);
        if (result != 0)
            throw new InvalidOperationException($"llama_model_quantize({fileType}) failed ({result})\n--- llama.cpp log ---\n{LlamaCppLog.Tail()}");
    }
}
