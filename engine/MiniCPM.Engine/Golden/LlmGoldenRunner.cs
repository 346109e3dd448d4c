using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `llm` case (golden README §1): logits of prompt 1 at every position; a greedy continuation (argmax, no EOS
/// stop, as many tokens as expected) with the logits each token was chosen from; prompt 2 appended to prompt 1's
/// cache (the generated tokens run on a fork, so they are not in that context); the per-layer residual stream.
/// </summary>
public sealed class LlmGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "llm";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        var manifest = goldenCase.Manifest;
        int[] prompt = goldenCase.ReadInts("input_ids");
        outputs.MarkInput("input_ids");
        int generate = manifest.Find("generated_ids") is { } g ? checked((int)g.Shape[0]) : 0;
        int[]? prompt2 = goldenCase.Has("input_ids_2") ? goldenCase.ReadInts("input_ids_2") : null;
        if (prompt2 is not null) outputs.MarkInput("input_ids_2");

        int needed = prompt.Length + Math.Max(generate, prompt2?.Length ?? 0) + 16;
        using var model = LoadModel(goldenCase.WeightsPath, 2 * needed);
        int vocab = model.VocabularySize;

        // Prompt 1, recording the residual stream of every stage (embeddings, each layer, final norm).
        var stages = new float[model.Config.Layers + 2][];
        Observe(model, (stage, rows, hiddenStates) => stages[stage] = hiddenStates.ToArray());
        var sequence = model.CreateSequence();
        var prefill = new ForwardRequest { Sequence = sequence, Tokens = prompt, AllLogits = true };
        model.Forward([prefill]);
        Observe(model, null);
        outputs.Add("logits", prefill.Logits.AsSpan(0, prompt.Length * vocab));
        outputs.Add("debug_hidden_layers", stages.SelectMany(s => s).ToArray());

        // Greedy continuation on a fork, so the original sequence still holds prompt 1 only.
        if (generate > 0)
        {
            var branch = model.ForkSequence(sequence);
            GreedyContinuation.Run(model, branch, prefill.Logits.AsSpan((prompt.Length - 1) * vocab, vocab), generate, outputs);
            model.FreeSequence(branch);
        }

        // Prompt 2 continues prompt 1 from its cache.
        if (prompt2 is not null)
        {
            var second = new ForwardRequest { Sequence = sequence, Tokens = prompt2, AllLogits = true };
            model.Forward([second]);
            outputs.Add("logits_2", second.Logits.AsSpan(0, prompt2.Length * vocab));
        }
        model.FreeSequence(sequence);
    }

    /// <summary>The CPU decoder, or the GPU one when <see cref="GoldenRunOptions.Device"/> names a device.</summary>
    private ILanguageModel LoadModel(string path, int cacheTokens) => !options.OnGpu
        ? Qwen2Model.Load(path, new Qwen2Options { Threads = options.Threads, KvCacheTokens = cacheTokens })
        : Qwen2GpuModel.Load(path, new Qwen2GpuOptions { Device = options.Device!, KvCacheTokens = cacheTokens });

    private static void Observe(ILanguageModel model, HiddenStateObserver? observer)
    {
        if (model is Qwen2Model cpu) cpu.HiddenStates = observer;
        else if (model is Qwen2GpuModel gpu) gpu.HiddenStates = observer;
    }
}
