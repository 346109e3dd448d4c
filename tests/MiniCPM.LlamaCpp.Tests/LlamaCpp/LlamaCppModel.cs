using LLama;
using LLama.Common;
using LLama.Native;

namespace MiniCPM.LlamaCpp.Tests.LlamaCpp;

/// <summary>
/// A GGUF file loaded by llama.cpp (through LLamaSharp), on the CPU, set up for exact arithmetic as far as
/// llama.cpp allows: F32 KV cache and flash attention off (its defaults, F16 cache and flash attention, round
/// the attention inputs).
/// </summary>
internal sealed class LlamaCppModel : IDisposable
{
    private static readonly Lazy<bool> NativeLoaded = new(() =>
    {
        LlamaCppLog.Install();
        // The first native call resolves and loads libllama; LLamaSharp asks that it be this one.
        NativeApi.llama_empty_call();
        return true;
    });

    private readonly ModelParams _parameters;

    /// <summary>Resolves libllama (once) before a native call that does not go through <see cref="Load"/>.</summary>
    public static void EnsureNativeLoaded() => _ = NativeLoaded.Value;

    public LLamaWeights Weights { get; }

    private LlamaCppModel(ModelParams parameters, LLamaWeights weights)
    {
        _parameters = parameters;
        Weights = weights;
    }

    public static LlamaCppModel Load(string path)
    {
        _ = NativeLoaded.Value;
        var parameters = new ModelParams(path)
        {
            ContextSize = 64,
            BatchSize = 64,
            UBatchSize = 64,
            GpuLayerCount = 0,
            Threads = 2,
            BatchThreads = 2,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        LlamaCppLog.Clear();
        try
        {
            return new LlamaCppModel(parameters, LLamaWeights.LoadFromFile(parameters));
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"llama.cpp did not load {path}: {e.Message}\n--- llama.cpp log ---\n{LlamaCppLog.Tail()}", e);
        }
    }

    /// <summary>
    /// Feeds <paramref name="prompt"/> as one batch, then each of <paramref name="continuation"/> as a batch of one
    /// (so the KV cache is read back), and returns the logits llama.cpp gives at every position, in order.
    /// </summary>
    public float[][] DecodeLogits(IReadOnlyList<int> prompt, IReadOnlyList<int> continuation)
    {
        using var context = Weights.CreateContext(_parameters);
        var logits = new List<float[]>();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Count; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, logits: true);
        Decode(context, batch, logits);
        for (int i = 0; i < continuation.Count; i++)
        {
            batch.Clear();
            batch.Add((LLamaToken)continuation[i], prompt.Count + i, LLamaSeqId.Zero, logits: true);
            Decode(context, batch, logits);
        }
        return logits.ToArray();
    }

    private static void Decode(LLamaContext context, LLamaBatch batch, List<float[]> logits)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}");
        for (int i = 0; i < batch.TokenCount; i++) logits.Add(context.NativeHandle.GetLogitsIth(i).ToArray());
    }

    public void Dispose() => Weights.Dispose();
}
