using System.Collections.Immutable;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// Greedy decoding on the device (<see cref="Qwen2GpuModel.DecodeGreedy"/>: argmax and advance kernels, windows of
/// steps queued without the host) against the host's greedy loop on the CPU decoder: the same tokens, and the next
/// pass after it — reading the cache the device steps wrote, or cut back — the CPU's logits to float rounding. A
/// one-layer random model (the simulator spends ~50 ms per thread group, ~3 s per pass here), KV blocks of 2 tokens and
/// windows of 2–3 steps, so every run crosses blocks and windows.
/// </summary>
[Collection(Simulator.Name)]
public sealed class GreedyDecodeOnGpuTests(SimulatorDevice simulator) : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();
    private static readonly int[] Prompt = [5, 17, 42];

    /// <summary>Three windows (2 + 2 + 1 steps) over three blocks, under a mask that forbids the unmasked choices
    /// (and every id past its length): the CPU's masked greedy tokens (DecodableIds.Mask, then the argmax).</summary>
    [Fact]
    public void TokensAcrossWindowsAndBlocksUnderAMaskAreTheHostPaths()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 2);
        var (first, unmasked) = HostGreedy(cpu, 5, default);
        var allowed = ImmutableArray.Create(Enumerable.Range(0, cpu.VocabularySize - 9).Select(id => !unmasked.Contains(id)).ToArray());
        var (_, expected) = HostGreedy(cpu, 5, allowed, out var cpuSequence);
        Assert.Empty(expected.Intersect(unmasked));

        var sequence = gpu.CreateSequence();
        Assert.Equal(first, TokenSampler.ArgMax(Feed(gpu, sequence, Prompt)));
        Assert.Equal(expected, DeviceGreedy(gpu, sequence, first, 5, allowed));
        Assert.Equal(3, gpu.DeviceGreedyWindows);
        Assert.Equal(5, gpu.DeviceGreedySteps);
        Assert.Equal(cpu.SequenceLength(cpuSequence), gpu.SequenceLength(sequence)); // prompt, first and 4 of the 5

        var next = Feed(cpu, cpuSequence, [expected[^1]]);
        Check.Close(next, Feed(gpu, sequence, [expected[^1]]), absolute: 2e-5 * next.Max(MathF.Abs));
    }

    /// <summary>
    /// A stop at the first id of a three-step window on a fork: the two tokens computed past it leave the cache, and
    /// with them the window's third block; the fork's next pass continues from where the host path would be, and the
    /// source sequence, which shares the fork's full block, is untouched.
    /// </summary>
    [Fact]
    public void AStopInsideAWindowOfAForkLeavesTheHostPathsSequence()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 3);
        var cache = gpu.KvCache;
        var (first, expected) = HostGreedy(cpu, 1, default, out var cpuFork);
        var source = gpu.CreateSequence();
        Feed(gpu, source, Prompt); // a full block and a partial one
        var fork = gpu.ForkSequence(source); // shares the full block, copies the partial one

        var ids = new List<int>();
        Assert.Equal(1, gpu.DecodeGreedy(fork, first, default, 10, id =>
        {
            ids.Add(id);
            return false;
        }));
        Assert.Equal(expected, ids);
        Assert.Equal(3, gpu.DeviceGreedySteps); // the whole window ran: positions 3, 4, 5, a third block
        Assert.Equal(Prompt.Length + 1, gpu.SequenceLength(fork)); // first fed, ids[0] not
        Assert.Equal(cache.TotalBlocks - 3, cache.FreeBlocks); // the shared block, the source's partial one, the fork's

        var next = Feed(cpu, cpuFork, [ids[0]]);
        Check.Close(next, Feed(gpu, fork, [ids[0]]), absolute: 2e-5 * next.Max(MathF.Abs));
        var cpuSource = cpu.CreateSequence();
        Feed(cpu, cpuSource, Prompt);
        next = Feed(cpu, cpuSource, [7]);
        Check.Close(next, Feed(gpu, source, [7]), absolute: 2e-5 * next.Max(MathF.Abs));

        gpu.FreeSequence(fork);
        gpu.FreeSequence(source);
        Assert.Equal(cache.TotalBlocks, cache.FreeBlocks);
    }

    /// <summary>
    /// The window stops at the cache's last free block (another sequence holds the rest), and at the end of the
    /// context; past either, Forward's typed errors, nothing changed. Three blocks of 2: a 6-token context.
    /// </summary>
    [Fact]
    public void TheWindowStopsAtTheLastFreeBlockAndAtTheContextsEnd()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 8, kvCacheTokens: 6);
        Assert.Equal(6, gpu.MaxSequenceLength);
        var (first, expected) = HostGreedy(cpu, 3, default);
        var other = gpu.CreateSequence();
        Feed(gpu, other, [1]); // one block
        var sequence = gpu.CreateSequence();
        Feed(gpu, sequence, Prompt); // the other two: room for one more token

        var ids = new List<int>();
        bool Accept(int id)
        {
            ids.Add(id);
            return true;
        }
        Assert.Equal(1, gpu.DecodeGreedy(sequence, first, default, 100, Accept));
        Assert.Throws<KvCacheExhaustedException>(() => gpu.DecodeGreedy(sequence, ids[^1], default, 100, Accept));
        Assert.Equal(4, gpu.SequenceLength(sequence));

        gpu.FreeSequence(other);
        Assert.Equal(2, gpu.DecodeGreedy(sequence, ids[^1], default, 100, Accept)); // to the context's 6
        Assert.Equal(expected, ids);
        Assert.Equal(6, gpu.SequenceLength(sequence));
        Assert.Throws<ContextOverflowException>(() => gpu.DecodeGreedy(sequence, ids[^1], default, 100, Accept));
        Assert.Equal(6, gpu.SequenceLength(sequence));
        Assert.Equal(3, ids.Count);
    }

    /// <summary>
    /// Generation with greedy options (the tokenizer's mask of decodable ids, a stop token) takes the device path on
    /// the GPU model — its window counter moves — and gives the CPU decoder's reply: tokens, text and finish. The
    /// stop comes inside the window, which computed one token more.
    /// </summary>
    [Fact]
    public void GenerationTakesTheDevicePathAndGivesTheCpuDecodersReply()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 3);
        var tokenizer = ModelTokenizer.Load(ModelPath());
        var options = GenerationOptions.Greedy with { MaxNewTokens = 4, StopTokenIds = [] };
        var unstopped = new Generator(cpu, tokenizer).Generate(Prompt, options, cancellation: TestContext.Current.CancellationToken);
        options = options with { StopTokenIds = [unstopped.Tokens[2]] };
        var expected = new Generator(cpu, tokenizer).Generate(Prompt, options, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(FinishReason.StopToken, expected.Finish);
        Assert.Equal(3, expected.Tokens.Length); // the stop token is the reply's third, not an earlier one

        var actual = new Generator(gpu, tokenizer).Generate(Prompt, options, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(1, gpu.DeviceGreedyWindows); // the first token from the prompt's logits, the rest in one window
        Assert.Equal(3, gpu.DeviceGreedySteps);
        Assert.Equal(expected.Tokens, actual.Tokens);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Finish, actual.Finish);
        Assert.Equal(gpu.KvCache.TotalBlocks, gpu.KvCache.FreeBlocks); // the generator freed its sequence
    }

    private Qwen2GpuModel Gpu(int window, int kvCacheTokens = 64) => Qwen2GpuModel.Load(ModelPath(), simulator.Device, new Qwen2GpuOptions
    {
        Activations = ActivationPrecision.Float32, KvBlockSize = 2, GreedyWindow = window, KvCacheTokens = kvCacheTokens,
    });

    private Qwen2Model Cpu() => Qwen2Model.Load(ModelPath(), new Qwen2Options { Activations = ActivationPrecision.Float32, Threads = 1 });

    /// <summary>One layer, head dim 32, the smallest synthetic vocabulary (and its tokenizer), float32 weights.</summary>
    private string ModelPath()
    {
        string path = Path.Combine(_dir, "greedy.gguf");
        if (!File.Exists(path))
            SyntheticModel.WriteGguf(SyntheticModelSpec.Create("greedy-test", hidden: 32, layers: 1, heads: 1, kvHeads: 1,
                intermediate: 64, vocab: 264, tieEmbeddings: false), path, TensorType.F32, seed: 5);
        return path;
    }

    private static float[] Feed(ILanguageModel model, SequenceId sequence, int[] tokens)
    {
        var request = new ForwardRequest { Sequence = sequence, Tokens = tokens };
        model.Forward([request]);
        return request.Logits!;
    }

    private static (int First, List<int> Ids) HostGreedy(ILanguageModel model, int count, ImmutableArray<bool> allowed) =>
        HostGreedy(model, count, allowed, out _);

    /// <summary>The host's greedy loop on a new sequence: the prompt, its argmax (first, unmasked), then
    /// <paramref name="count"/> more ids, each fed before the next is chosen but the last.</summary>
    private static (int First, List<int> Ids) HostGreedy(ILanguageModel model, int count, ImmutableArray<bool> allowed,
        out SequenceId sequence)
    {
        sequence = model.CreateSequence();
        int first = TokenSampler.ArgMax(Feed(model, sequence, Prompt)), token = first;
        var ids = new List<int>();
        while (ids.Count < count)
        {
            var logits = Feed(model, sequence, [token]);
            if (!allowed.IsDefault) DecodableIds.Mask(logits, [.. allowed]);
            ids.Add(token = TokenSampler.ArgMax(logits));
        }
        return (first, ids);
    }

    /// <summary>Device windows from <paramref name="first"/> until <paramref name="count"/> ids are chosen.</summary>
    private static List<int> DeviceGreedy(Qwen2GpuModel model, SequenceId sequence, int first, int count, ImmutableArray<bool> allowed)
    {
        var ids = new List<int>();
        int token = first;
        while (true)
        {
            bool more = true;
            model.DecodeGreedy(sequence, token, allowed, count - ids.Count, id =>
            {
                ids.Add(id);
                return more = ids.Count < count;
            });
            if (!more) return ids;
            token = ids[^1];
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
