using LLama;
using LLama.Common;
using LLama.Native;
using MiniCPM.Engine.Benchmarking;

namespace MiniCPM.PeerBench;

/// <summary>
/// llama.cpp (LLamaSharp 0.30.0, CPU backend) as a benchmark subject, set up like the engine: F32 KV cache, flash
/// attention off, the given thread count for both prompt and decode, the prompt in one batch.
/// </summary>
internal sealed class LlamaCppSubject : IThroughputSubject, IDisposable
{
    private static readonly Lazy<bool> NativeLoaded = new(() =>
    {
        NativeLibraryConfig.All.WithLogCallback((_, _) => { }); // silence the per-load log
        NativeApi.llama_empty_call(); // LLamaSharp asks that the library be resolved by this call first
        return true;
    });

    /// <summary>Resolves and silences the native library once (also needed before the quantizer is called).</summary>
    public static bool EnsureNativeLoaded() => NativeLoaded.Value;

    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();
    private int _position;

    /// <param name="memoryMap">
    /// True: llama.cpp maps the file (LoadMode.MemoryMap), as the engine does. False: LLamaSharp's default
    /// (LoadMode.None), which reads the weights into llama.cpp's own memory at load.
    /// </param>
    public LlamaCppSubject(string path, int threads, int contextTokens, bool memoryMap = false)
    {
        _ = NativeLoaded.Value;
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)contextTokens,
            BatchSize = 512,
            UBatchSize = 512,
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        if (memoryMap) parameters.LoadMode = LLamaLoadMode.MemoryMap;
        long before = ProcessStats.ResidentBytes();
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
        LoadMode = parameters.LoadMode.ToString();
        Name = memoryMap ? "llama.cpp (mmap)" : "llama.cpp";
        ResidentGrowthAtLoad = ProcessStats.ResidentBytes() - before;
    }

    /// <summary>How llama.cpp brought the weights in (LLamaSharp's default load mode, recorded as used).</summary>
    public string LoadMode { get; }

    /// <summary>Resident bytes added by loading: about the file size when llama.cpp reads the weights into its own memory.</summary>
    public long ResidentGrowthAtLoad { get; }

    public string Name { get; }

    public void Begin()
    {
        _context.NativeHandle.MemoryClear(true);
        _position = 0;
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> prompt)
    {
        _batch.Clear();
        for (int i = 0; i < prompt.Length; i++)
            _batch.Add((LLamaToken)prompt[i], _position++, LLamaSeqId.Zero, logits: i == prompt.Length - 1);
        return Run();
    }

    public ReadOnlySpan<float> Decode(int token)
    {
        _batch.Clear();
        _batch.Add((LLamaToken)token, _position++, LLamaSeqId.Zero, logits: true);
        return Run();
    }

    private ReadOnlySpan<float> Run()
    {
        var result = _context.Decode(_batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}");
        return _context.NativeHandle.GetLogitsIth(_batch.TokenCount - 1);
    }

    public void End() { }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
