using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>
/// Bad requests fail with typed errors before anything changes: every sequence keeps its length and cached values
/// (checked by continuing it and comparing with an undisturbed run) and the cache counters stay put.
/// </summary>
public class Qwen2BadInputTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Free, int Used) Counters(Qwen2Model model) => (model.Cache.FreeBlocks, model.Cache.UsedBlocks);

    [Fact]
    public void TokenIdsOutsideTheVocabularyAreNamedAndChangeNothing()
    {
        using var model = TinyQwen2.Load();
        var good = model.CreateSequence();
        var other = model.CreateSequence();
        TinyQwen2.Run(model, good, TinyQwen2.Prompt1[..10]);
        var before = Counters(model);

        foreach (int bad in new[] { model.EmbeddingRows, -1, int.MaxValue })
        {
            int[] tokens = [5, 6, bad, 7];
            var e = Assert.Throws<TokenOutOfRangeException>(() => model.Forward([
                new ForwardRequest { Sequence = good, Tokens = new[] { 1 } },
                new ForwardRequest { Sequence = other, Tokens = tokens },
            ]));
            Assert.Equal(bad, e.TokenId);
            Assert.Equal(2, e.Position);
            Assert.Contains(bad.ToString(), e.Message);
        }
        Assert.Equal(10, model.SequenceLength(good)); // the valid request in the same batch did not run either
        Assert.Equal(0, model.SequenceLength(other));
        Assert.Equal(before, Counters(model));
    }

    [Fact]
    public void ContextOverflowIsTypedAndLeavesTheSequenceUsable()
    {
        using var model = TinyQwen2.Load(kvTokens: 40); // 3 blocks: the cache limits the context to 48 tokens
        Assert.Equal(48, model.MaxSequenceLength);
        var sequence = model.CreateSequence();
        TinyQwen2.Run(model, sequence, TinyQwen2.Prompt1);
        var e = Assert.Throws<ContextOverflowException>(() => TinyQwen2.Run(model, sequence, new int[17]));
        Assert.Equal(32, e.CurrentLength);
        Assert.Equal(17, e.AppendedTokens);
        Assert.Equal(32, model.SequenceLength(sequence));

        // Exactly filling the context still works, and gives the logits of an undisturbed model.
        float[] logits = TinyQwen2.Run(model, sequence, TinyQwen2.Prompt2);
        using var fresh = TinyQwen2.Load();
        var reference = fresh.CreateSequence();
        TinyQwen2.Run(fresh, reference, TinyQwen2.Prompt1);
        Assert.Equal(TinyQwen2.Run(fresh, reference, TinyQwen2.Prompt2), logits);
    }

    [Fact]
    public void KvExhaustionLeavesOtherSequencesIntactAndASmallerRequestStillRuns()
    {
        using var model = TinyQwen2.Load(kvTokens: 64); // 4 blocks of 16
        var a = model.CreateSequence();
        TinyQwen2.Run(model, a, TinyQwen2.Prompt1[..20]); // 2 blocks
        var b = model.CreateSequence();
        var before = Counters(model);

        var e = Assert.Throws<KvCacheExhaustedException>(() => model.Forward([
            new ForwardRequest { Sequence = a, Tokens = TinyQwen2.Prompt1[20..24] },   // fits a's second block
            new ForwardRequest { Sequence = b, Tokens = TinyQwen2.Prompt2.Concat(TinyQwen2.Prompt2).Concat(TinyQwen2.Prompt2).ToArray() }, // 3 blocks
        ]));
        Assert.Equal(3, e.BlocksNeeded);
        Assert.Equal(2, e.BlocksFree);
        Assert.Equal(before, Counters(model));
        Assert.Equal(20, model.SequenceLength(a));
        Assert.Equal(0, model.SequenceLength(b));

        // Both sequences continue exactly as in an undisturbed model.
        float[] continuedA = TinyQwen2.Run(model, a, TinyQwen2.Prompt1[20..]);
        float[] smallB = TinyQwen2.Run(model, b, TinyQwen2.Prompt2);
        using var fresh = TinyQwen2.Load();
        var ra = fresh.CreateSequence();
        TinyQwen2.Run(fresh, ra, TinyQwen2.Prompt1[..20]);
        Assert.Equal(TinyQwen2.Run(fresh, ra, TinyQwen2.Prompt1[20..]), continuedA);
        Assert.Equal(TinyQwen2.Run(fresh, fresh.CreateSequence(), TinyQwen2.Prompt2), smallB);

        model.FreeSequence(a);
        model.FreeSequence(b);
        Assert.Equal((4, 0), Counters(model));
    }

    [Fact]
    public void MalformedRequestsAreRejected()
    {
        using var model = TinyQwen2.Load();
        var s = model.CreateSequence();
        Assert.Throws<ArgumentException>(() => model.Forward([new ForwardRequest { Sequence = s, Tokens = Array.Empty<int>() }]));
        Assert.Throws<ArgumentException>(() => model.Forward([
            new ForwardRequest { Sequence = s, Tokens = new[] { 1 } },
            new ForwardRequest { Sequence = s, Tokens = new[] { 2 } },
        ]));
        Assert.Throws<ArgumentException>(() => model.Forward([
            new ForwardRequest { Sequence = s, Tokens = new[] { 1, 2 }, Embeddings = new float[model.Config.HiddenSize] },
        ]));
        Assert.Throws<UnknownSequenceException>(() => model.Forward([new ForwardRequest { Sequence = new SequenceId(99), Tokens = new[] { 1 } }]));
        model.FreeSequence(s);
        Assert.Throws<UnknownSequenceException>(() => model.SequenceLength(s));
        Assert.Equal(0, model.Cache.UsedBlocks);
    }

    [Fact]
    public void QuantizedWeightsWithoutAKernelAreRejectedWithATypedError()
    {
        // Every GGUF weight type has a CPU kernel now except the activation formats: a Q8_1 matrix stands in for an
        // unsupported type (blk.0.attn_q written as Q8_1 blocks, everything else F32).
        string f32 = Path.Combine(_dir, "f32.gguf"), gguf = Path.Combine(_dir, "q8_1.gguf");
        using (var checkpoint = Checkpoint.Open(TinyQwen2.WeightsPath)) GgufExport.WriteTextModel(checkpoint, f32, TensorType.F32);
        using (var file = MiniCPM.Loaders.Gguf.GgufFile.Open(f32))
        {
            var writer = new MiniCPM.Loaders.Gguf.GgufWriter();
            foreach (var (key, value) in file.Metadata) writer.AddMetadata(key, value);
            foreach (var tensor in file.Tensors)
            {
                if (tensor.Name == "blk.0.attn_q.weight")
                    writer.AddTensor(tensor.Name, TensorType.Q8_1, tensor.Shape, new byte[tensor.ElementCount / 32 * 36]);
                else
                    writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, file.GetData(tensor).AsSpan().ToArray());
            }
            writer.WriteTo(gguf);
        }
        var e = Assert.Throws<UnsupportedWeightTypeException>(() => Qwen2Model.Load(gguf, new Qwen2Options { Threads = 1 }));
        Assert.Equal(TensorType.Q8_1, e.Type);
        Assert.StartsWith("llm.blk.0.", e.Weight);
    }
}
