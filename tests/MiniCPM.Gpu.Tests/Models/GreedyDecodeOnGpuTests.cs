using System.Collections.Immutable;
using MiniCPM.Engine;
using MiniCPM.Engine.Conversion;
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
/// steps queued without the host) against the host's greedy loop — on the same GPU model (same kernels, same order:
/// the same tokens, and bit-identical logits from the cache it leaves) and on the CPU decoder (same tokens, logits to
/// float rounding). Small KV blocks (4 tokens) and windows (3–4 steps), so every run crosses blocks and windows.
/// Float activations, so the CPU decoder is the reference to float rounding.
/// </summary>
[Collection(Simulator.Name)]
public sealed class GreedyDecodeOnGpuTests(SimulatorDevice simulator) : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();
    private static readonly int[] Prompt = [5, 17, 42, 99, 123];

    [Fact]
    public void TokensAcrossWindowsAndBlocksAreTheHostPathsAndTheCacheIsTheSame()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 3);
        var (first, expected) = HostGreedy(cpu, cpu.CreateSequence(), 9, out var cpuSequence);

        var onDevice = gpu.CreateSequence();
        Assert.Equal(first, TokenSampler.ArgMax(Feed(gpu, onDevice, Prompt)));
        Assert.Equal(expected, DeviceGreedy(gpu, onDevice, first, 9));
        Assert.Equal(3, gpu.DeviceGreedyWindows); // 9 steps in windows of 3
        Assert.Equal(9, gpu.DeviceGreedySteps);
        Assert.Equal(cpu.SequenceLength(cpuSequence), gpu.SequenceLength(onDevice)); // prompt, first and 8 of the 9

        var (_, hostTokens) = HostGreedy(gpu, gpu.CreateSequence(), 9, out var onHost);
        Assert.Equal(expected, hostTokens);

        // The next pass reads the cache the device steps wrote: as the host path's, bit for bit.
        var afterDevice = Feed(gpu, onDevice, [expected[^1]]);
        Assert.Equal(Feed(gpu, onHost, [expected[^1]]), afterDevice);
        var afterCpu = Feed(cpu, cpuSequence, [expected[^1]]);
        Check.Close(afterCpu, afterDevice, absolute: 2e-5 * afterCpu.Max(MathF.Abs));
    }

    /// <summary>
    /// A stop inside a window on a fork: the tokens computed past it leave the cache (the window's extra block goes
    /// back), the fork's next pass continues from where the host path would be, and the source sequence, which shares
    /// the fork's first block, is untouched.
    /// </summary>
    [Fact]
    public void AStopInsideAWindowOfAForkLeavesTheHostPathsSequence()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 4);
        var cache = gpu.KvCache;
        var source = gpu.CreateSequence();
        int first = TokenSampler.ArgMax(Feed(gpu, source, [.. Prompt, 7])); // 6 tokens: one full block, one partial
        var fork = gpu.ForkSequence(source);

        var ids = new List<int>();
        int handed = gpu.DecodeGreedy(fork, first, default, 10, id =>
        {
            ids.Add(id);
            return ids.Count < 2;
        });
        Assert.Equal(2, handed);
        Assert.Equal(4, gpu.DeviceGreedySteps); // the whole window ran
        Assert.Equal(6 + 2, gpu.SequenceLength(fork)); // first and ids[0] fed; ids[1] not
        Assert.Equal(cache.TotalBlocks - 3, cache.FreeBlocks); // the shared block, the source's partial block, the fork's

        var cpuSequence = cpu.CreateSequence();
        Feed(cpu, cpuSequence, [.. Prompt, 7]);
        Feed(cpu, cpuSequence, [first]);
        var expected = Feed(cpu, cpuSequence, [ids[0]]);
        Assert.Equal(ids[1], TokenSampler.ArgMax(expected));
        expected = Feed(cpu, cpuSequence, [ids[1]]);
        var actual = Feed(gpu, fork, [ids[1]]);
        Check.Close(expected, actual, absolute: 2e-5 * expected.Max(MathF.Abs));

        var cpuSource = cpu.CreateSequence();
        Feed(cpu, cpuSource, [.. Prompt, 7]);
        expected = Feed(cpu, cpuSource, [first]);
        actual = Feed(gpu, source, [first]);
        Check.Close(expected, actual, absolute: 2e-5 * expected.Max(MathF.Abs));

        gpu.FreeSequence(fork);
        gpu.FreeSequence(source);
        Assert.Equal(cache.TotalBlocks, cache.FreeBlocks);
    }

    /// <summary>Near the end of the context the window shrinks to what is left, and so it does when the cache's free
    /// blocks run out first (another sequence holds the rest); past either, the same typed errors as Forward's.</summary>
    [Fact]
    public void TheWindowStopsAtTheContextAndAtTheCachesLastFreeBlock()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 8, kvCacheTokens: 12);
        Assert.Equal(12, gpu.MaxSequenceLength);
        int[] prompt = [.. Prompt, 1, 2, 3];
        var (first, expected) = HostGreedy(cpu, cpu.CreateSequence(), 4, out _, prompt);

        var sequence = gpu.CreateSequence();
        Feed(gpu, sequence, prompt);
        var ids = new List<int>();
        Assert.Equal(4, gpu.DecodeGreedy(sequence, first, default, 100, id => { ids.Add(id); return true; }));
        Assert.Equal(expected, ids);
        Assert.Equal(12, gpu.SequenceLength(sequence));
        Assert.Throws<ContextOverflowException>(() => gpu.DecodeGreedy(sequence, ids[^1], default, 100, _ => true));
        Assert.Equal(12, gpu.SequenceLength(sequence));
        gpu.FreeSequence(sequence);

        var other = gpu.CreateSequence();
        Feed(gpu, other, [1, 2, 3]); // one of the three blocks
        sequence = gpu.CreateSequence();
        int start = TokenSampler.ArgMax(Feed(gpu, sequence, Prompt)); // two more: 8 slots, 3 past the prompt
        var (cpuStart, three) = HostGreedy(cpu, cpu.CreateSequence(), 3, out _, Prompt);
        Assert.Equal(cpuStart, start);
        ids.Clear();
        Assert.Equal(3, gpu.DecodeGreedy(sequence, start, default, 100, id => { ids.Add(id); return true; }));
        Assert.Equal(three, ids);
        Assert.Equal(8, gpu.SequenceLength(sequence));
        Assert.Throws<KvCacheExhaustedException>(() => gpu.DecodeGreedy(sequence, ids[^1], default, 100, _ => true));
        Assert.Equal(8, gpu.SequenceLength(sequence));
    }

    /// <summary>A mask (shorter than the vocabulary: the ids past it are not allowed either) that forbids what the
    /// unmasked run chose: the device follows the host's masked greedy choice (DecodableIds.Mask, then the argmax).</summary>
    [Fact]
    public void TheMaskOfAllowedIdsIsTheHostsMask()
    {
        using var gpu = Gpu(window: 3);
        var probe = gpu.CreateSequence();
        int first = TokenSampler.ArgMax(Feed(gpu, probe, Prompt));
        var unmasked = DeviceGreedy(gpu, probe, first, 3);
        var allowed = Enumerable.Range(0, gpu.VocabularySize - 20).Select(id => !unmasked.Contains(id)).ToArray();

        var reference = gpu.CreateSequence();
        Feed(gpu, reference, Prompt);
        var expected = new List<int>();
        for (int token = first; expected.Count < 3; expected.Add(token))
        {
            var logits = Feed(gpu, reference, [token]);
            DecodableIds.Mask(logits, allowed);
            token = TokenSampler.ArgMax(logits);
        }
        var sequence = gpu.CreateSequence();
        Feed(gpu, sequence, Prompt);
        var masked = DeviceGreedy(gpu, sequence, first, 3, ImmutableArray.Create(allowed));
        Assert.Equal(expected, masked);
        Assert.All(masked, id => Assert.DoesNotContain(id, unmasked));
    }

    /// <summary>
    /// Generation with greedy options takes the device path on the GPU model (its window counter moves) and gives the
    /// CPU decoder's reply: tokens, text and finish, for a reply cut by max tokens and one cut by a stop token.
    /// </summary>
    [Fact]
    public void GenerationTakesTheDevicePathAndGivesTheCpuDecodersReply()
    {
        using var cpu = Cpu();
        using var gpu = Gpu(window: 3);
        var tokenizer = ModelTokenizer.Load(ModelPath());
        var greedy = GenerationOptions.Greedy with { MaxNewTokens = 6, StopTokenIds = [] };
        var expected = new Generator(cpu, tokenizer).Generate(Prompt, greedy, cancellation: TestContext.Current.CancellationToken);

        var actual = new Generator(gpu, tokenizer).Generate(Prompt, greedy, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(2, gpu.DeviceGreedyWindows); // the first token from the prompt's logits, then 3 + 2
        Assert.Equal(expected.Tokens, actual.Tokens);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(FinishReason.MaxNewTokens, actual.Finish);

        var stopping = greedy with { StopTokenIds = [expected.Tokens[3]] };
        expected = new Generator(cpu, tokenizer).Generate(Prompt, stopping, cancellation: TestContext.Current.CancellationToken);
        actual = new Generator(gpu, tokenizer).Generate(Prompt, stopping, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(FinishReason.StopToken, expected.Finish);
        Assert.Equal(expected.Tokens, actual.Tokens);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Finish, actual.Finish);
        Assert.Equal(gpu.KvCache.TotalBlocks, gpu.KvCache.FreeBlocks); // the generator freed its sequence
    }

    private Qwen2GpuModel Gpu(int window, int kvCacheTokens = 256) => Qwen2GpuModel.Load(ModelPath(), simulator.Device, new Qwen2GpuOptions
    {
        Activations = ActivationPrecision.Float32, KvBlockSize = 4, GreedyWindow = window, KvCacheTokens = kvCacheTokens,
    });

    private Qwen2Model Cpu() => Qwen2Model.Load(ModelPath(), new Qwen2Options { Activations = ActivationPrecision.Float32, KvBlockSize = 4 });

    /// <summary>The random decoder of the other model tests (head dim 32, vocab 320), as Q8_0.</summary>
    private string ModelPath()
    {
        string source = Path.Combine(_dir, "f32.gguf"), path = Path.Combine(_dir, "q8_0.gguf");
        if (File.Exists(path)) return path;
        SyntheticModel.WriteGguf(SyntheticModelSpec.Create("gpu-test", hidden: 64, layers: 2, heads: 2, kvHeads: 1,
            intermediate: 128, vocab: 320, tieEmbeddings: false), source, TensorType.F32, seed: 7);
        using var checkpoint = Checkpoint.Open(source);
        GgufExport.WriteTextModel(checkpoint, path, TensorType.Q8_0);
        return path;
    }

    private static float[] Feed(ILanguageModel model, SequenceId sequence, int[] tokens)
    {
        var request = new ForwardRequest { Sequence = sequence, Tokens = tokens };
        model.Forward([request]);
        return request.Logits!;
    }

    /// <summary>The host's greedy loop: the prompt, its argmax (first), then <paramref name="count"/> more ids, each
    /// fed before the next is chosen but the last.</summary>
    private static (int First, List<int> Ids) HostGreedy(ILanguageModel model, SequenceId sequence, int count, out SequenceId used,
        int[]? prompt = null)
    {
        used = sequence;
        int token = TokenSampler.ArgMax(Feed(model, sequence, prompt ?? Prompt)), first = token;
        var ids = new List<int>();
        while (ids.Count < count)
        {
            token = TokenSampler.ArgMax(Feed(model, sequence, [token]));
            ids.Add(token);
        }
        // Fed so far: first and every id but the last, as the device path leaves it.
        return (first, ids);
    }

    /// <summary>Device windows from <paramref name="first"/> until <paramref name="count"/> ids are chosen.</summary>
    private static List<int> DeviceGreedy(Qwen2GpuModel model, SequenceId sequence, int first, int count,
        ImmutableArray<bool> allowed = default)
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
