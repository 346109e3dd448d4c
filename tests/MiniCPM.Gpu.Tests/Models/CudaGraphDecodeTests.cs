using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// Decode steps replayed from captured CUDA graphs against the same steps launched one by one: the same kernels in the
/// same order over the same buffers, so every step's logits must be bit-identical — across a context bucket boundary
/// (256 → 512, a second graph) and while the block table grows. CUDA only (the simulator has no graphs).
/// </summary>
/// <remarks>In the shared device's collection so that no two CUDA contexts of this process work at once: with test
/// collections in parallel on an H200 the run once hung (never seen sequentially).</remarks>
[Collection(Simulator.Name)]
public sealed class CudaGraphDecodeTests
{
    private static readonly LlmConfig Config = SyntheticModelSpec.Create("graphs", hidden: 256, layers: 2, heads: 4, kvHeads: 2,
        intermediate: 512, vocab: 320, tieEmbeddings: false).Llm;

    [CudaFact]
    public void GraphReplaysGiveTheLogitsOfLaunchingOneByOne()
    {
        using var device = GpuDevice.Open("cuda");
        foreach (var activations in new[] { ActivationPrecision.Int8, ActivationPrecision.Float32 })
        {
            var eager = Decode(device, activations, graphs: false, out long eagerReplays, out _);
            var replayed = Decode(device, activations, graphs: true, out long replays, out string? fallback);
            Assert.Null(fallback);
            Assert.Equal(0, eagerReplays);
            Assert.True(replays >= eager.Count - 2, $"{replays} graph replays for {eager.Count} decode steps");
            for (int step = 0; step < eager.Count; step++)
                Assert.True(eager[step].AsSpan().SequenceEqual(replayed[step]), $"{activations}: step {step} differs");
        }
    }

    private static List<float[]> Decode(GpuDevice device, ActivationPrecision activations, bool graphs, out long replays, out string? fallback)
    {
        using var model = Qwen2GpuModel.Random(device, Config, TensorType.Q4_0,
            new Qwen2GpuOptions { Activations = activations, CudaGraphs = graphs, KvCacheTokens = 1024 });
        var sequence = model.CreateSequence();
        var prompt = Enumerable.Range(0, 250).Select(i => (i * 37 + 11) % Config.VocabSize).ToArray();
        var request = new ForwardRequest { Sequence = sequence, Tokens = prompt };
        model.Forward([request]);
        var steps = new List<float[]>();
        long before = device.Kernels.GraphLaunches;
        int next = ArgMax(request.Logits!);
        for (int step = 0; step < 20; step++) // contexts 251 … 270: the 256 bucket, then the 512 one
        {
            var decode = new ForwardRequest { Sequence = sequence, Tokens = new[] { next } };
            model.Forward([decode]);
            steps.Add(decode.Logits!);
            next = ArgMax(decode.Logits!);
        }
        replays = device.Kernels.GraphLaunches - before;
        fallback = model.GraphFallbackReason;
        return steps;
    }

    /// <summary>
    /// Greedy decoding on the device (argmax and advance inside each step's graph, windows of 8) against Forward + host
    /// argmax with graphs, across the 256 → 512 bucket boundary: the same tokens with graphs on and off, the greedy
    /// graphs replayed, and the next pass after it bit-identical to the host loop's (the cache the replays wrote).
    /// </summary>
    [CudaFact]
    public void GreedyGraphReplaysGiveTheTokensOfTheHostLoop()
    {
        using var device = GpuDevice.Open("cuda");
        var host = Greedy(device, onDevice: false, graphs: true, out _, out var hostNext);
        var eager = Greedy(device, onDevice: true, graphs: false, out long eagerReplays, out _);
        var replayed = Greedy(device, onDevice: true, graphs: true, out long replays, out var replayedNext);
        Assert.Equal(0, eagerReplays);
        Assert.True(replays >= host.Count - 2, $"{replays} graph replays for {host.Count} greedy steps");
        Assert.Equal(host, eager);
        Assert.Equal(host, replayed);
        Assert.True(hostNext.AsSpan().SequenceEqual(replayedNext), "the pass after the greedy steps differs");
    }

    /// <summary>20 greedy ids after a 250-token prompt, and the logits of feeding the last one.</summary>
    private static List<int> Greedy(GpuDevice device, bool onDevice, bool graphs, out long replays, out float[] next)
    {
        using var model = Qwen2GpuModel.Random(device, Config, TensorType.Q4_0,
            new Qwen2GpuOptions { CudaGraphs = graphs, KvCacheTokens = 1024 });
        var sequence = model.CreateSequence();
        var prompt = new ForwardRequest { Sequence = sequence, Tokens = Enumerable.Range(0, 250).Select(i => (i * 37 + 11) % Config.VocabSize).ToArray() };
        model.Forward([prompt]);
        int token = ArgMax(prompt.Logits!);
        long before = device.Kernels.GraphLaunches;
        var ids = new List<int>();
        while (ids.Count < 20)
        {
            if (onDevice)
            {
                model.DecodeGreedy(sequence, token, default, 20 - ids.Count, id =>
                {
                    ids.Add(id);
                    return ids.Count < 20;
                });
            }
            else
            {
                var step = new ForwardRequest { Sequence = sequence, Tokens = new[] { token } };
                model.Forward([step]);
                ids.Add(ArgMax(step.Logits!));
            }
            token = ids[^1];
        }
        replays = device.Kernels.GraphLaunches - before;
        var last = new ForwardRequest { Sequence = sequence, Tokens = new[] { token } };
        model.Forward([last]);
        next = last.Logits!;
        return ids;
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
