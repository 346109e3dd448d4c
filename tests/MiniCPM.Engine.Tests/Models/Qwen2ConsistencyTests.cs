using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Models;

/// <summary>
/// The decoder gives the same logits however the work is cut: one batch or one sequence at a time, one prefill or
/// chunks or token-by-token decoding, one thread or several, HF safetensors or the GGUF F32 conversion.
/// </summary>
public class Qwen2ConsistencyTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void BatchedForwardOfSequencesOfDifferentLengthsEqualsRunningThemOneByOne()
    {
        int[] a = TinyQwen2.Prompt1[..21], b = TinyQwen2.Prompt2, c = TinyQwen2.Prompt1[5..8];
        int[] nextA = [17], nextB = [1000];

        using var single = TinyQwen2.Load();
        var sa = single.CreateSequence();
        var sb = single.CreateSequence();
        var sc = single.CreateSequence();
        float[] refA = TinyQwen2.Run(single, sa, a), refB = TinyQwen2.Run(single, sb, b);
        float[] refA2 = TinyQwen2.Run(single, sa, nextA), refB2 = TinyQwen2.Run(single, sb, nextB), refC = TinyQwen2.Run(single, sc, c, all: false);

        using var batched = TinyQwen2.Load();
        var ba = batched.CreateSequence();
        var bb = batched.CreateSequence();
        var bc = batched.CreateSequence();
        var prefillA = new ForwardRequest { Sequence = ba, Tokens = a, AllLogits = true };
        var prefillB = new ForwardRequest { Sequence = bb, Tokens = b, AllLogits = true };
        batched.Forward([prefillA, prefillB]);
        // A mixed step: two decodes and a fresh prefill in one pass.
        var stepA = new ForwardRequest { Sequence = ba, Tokens = nextA };
        var stepB = new ForwardRequest { Sequence = bb, Tokens = nextB };
        var prefillC = new ForwardRequest { Sequence = bc, Tokens = c };
        batched.Forward([stepA, prefillC, stepB]);

        const double limit = 1e-6;
        Assert.InRange(TinyQwen2.RelativeDifference(prefillA.Logits.AsSpan(0, refA.Length), refA), 0, limit);
        Assert.InRange(TinyQwen2.RelativeDifference(prefillB.Logits.AsSpan(0, refB.Length), refB), 0, limit);
        Assert.InRange(TinyQwen2.RelativeDifference(stepA.Logits.AsSpan(0, refA2.Length), refA2), 0, limit);
        Assert.InRange(TinyQwen2.RelativeDifference(stepB.Logits.AsSpan(0, refB2.Length), refB2), 0, limit);
        Assert.InRange(TinyQwen2.RelativeDifference(prefillC.Logits.AsSpan(0, refC.Length), refC), 0, limit);
        Assert.Equal(22, batched.SequenceLength(ba));
        Assert.Equal(17, batched.SequenceLength(bb));
        Assert.Equal(3, batched.SequenceLength(bc));
    }

    [Fact]
    public void PrefillAtOnceEqualsChunkedPrefillEqualsTokenByTokenDecode()
    {
        int[] prompt = TinyQwen2.Prompt1;
        using var model = TinyQwen2.Load();
        int vocab = model.VocabularySize;
        float[] whole = TinyQwen2.Run(model, model.CreateSequence(), prompt);

        var chunked = model.CreateSequence();
        var chunks = new List<float>();
        foreach (var (start, end) in new[] { (0, 7), (7, 23), (23, 32) }) // crosses block boundaries mid-chunk
            chunks.AddRange(TinyQwen2.Run(model, chunked, prompt[start..end]));

        var stepwise = model.CreateSequence();
        var steps = new List<float>();
        foreach (int token in prompt) steps.AddRange(TinyQwen2.Run(model, stepwise, [token]));

        Assert.Equal(prompt.Length * vocab, chunks.Count);
        Assert.InRange(TinyQwen2.RelativeDifference(chunks.ToArray(), whole), 0, 1e-5);
        Assert.InRange(TinyQwen2.RelativeDifference(steps.ToArray(), whole), 0, 1e-5);
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheResult()
    {
        using var one = TinyQwen2.Load(threads: 1);
        using var three = TinyQwen2.Load(threads: 3);
        float[] a = TinyQwen2.Run(one, one.CreateSequence(), TinyQwen2.Prompt1);
        float[] b = TinyQwen2.Run(three, three.CreateSequence(), TinyQwen2.Prompt1);
        Assert.Equal(a, b); // rows are split across threads, never the sums within a row
    }

    [Fact]
    public void HfFolderAndItsGgufF32ConversionGiveTheSameLogits()
    {
        string hfFolder = Path.Combine(_dir, "hf");
        Directory.CreateDirectory(hfFolder);
        foreach (var file in new[] { "model.safetensors", "config.json" })
            File.Copy(Path.Combine(TestData.GoldenCase("llm"), file), Path.Combine(hfFolder, file));
        string gguf = Path.Combine(_dir, "model-f32.gguf");
        using (var checkpoint = Checkpoint.Open(hfFolder)) GgufExport.WriteTextModel(checkpoint, gguf, TensorType.F32);

        using var fromHf = Qwen2Model.Load(hfFolder, new Qwen2Options { Threads = 1 });
        using var fromGguf = Qwen2Model.Load(gguf, new Qwen2Options { Threads = 1 });
        Assert.Equal(fromHf.Config with { RmsNormEps = 0, MaxPositions = 0 }, fromGguf.Config with { RmsNormEps = 0, MaxPositions = 0 });
        float[] a = TinyQwen2.Run(fromHf, fromHf.CreateSequence(), TinyQwen2.Prompt1);
        float[] b = TinyQwen2.Run(fromGguf, fromGguf.CreateSequence(), TinyQwen2.Prompt1);
        // bf16 → f32 is exact, so only the kernels' widening path differs.
        Assert.InRange(TinyQwen2.RelativeDifference(b, a), 0, 1e-6);
    }

    [Fact]
    public void SuppliedEmbeddingRowsReplaceTokenEmbeddingsWhereTheMaskSaysSo()
    {
        int[] prompt = TinyQwen2.Prompt1[..12];
        using var model = TinyQwen2.Load();
        int hidden = model.Config.HiddenSize;
        float[] reference = TinyQwen2.Run(model, model.CreateSequence(), prompt);

        // The embedding table's own rows, supplied for every position: same logits as the token path.
        using var checkpoint = Checkpoint.Open(TinyQwen2.WeightsPath);
        float[] table = WeightReader.ReadAll(checkpoint.Tensors, checkpoint.Weights.Require(WeightNames.TokenEmbedding, checkpoint.SourcePath));
        var rows = new float[prompt.Length * hidden];
        for (int t = 0; t < prompt.Length; t++) table.AsSpan(prompt[t] * hidden, hidden).CopyTo(rows.AsSpan(t * hidden));
        var same = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = prompt, Embeddings = rows, AllLogits = true };
        model.Forward([same]);
        Assert.Equal(reference, same.Logits);

        // Rows 3..5 replaced by other rows (with placeholder ids that would be out of range): positions before 3 are
        // unchanged, later ones differ.
        var altered = (float[])rows.Clone();
        altered.AsSpan(3 * hidden, 3 * hidden).Fill(0.01f);
        var mask = new bool[prompt.Length];
        mask[3] = mask[4] = mask[5] = true;
        int[] placeholders = (int[])prompt.Clone();
        placeholders[3] = placeholders[4] = placeholders[5] = -1;
        var mixed = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = placeholders, Embeddings = altered, EmbeddingMask = mask, AllLogits = true };
        model.Forward([mixed]);
        int vocab = model.VocabularySize;
        Assert.Equal(reference.AsSpan(0, 3 * vocab).ToArray(), mixed.Logits.AsSpan(0, 3 * vocab).ToArray());
        Assert.True(TinyQwen2.RelativeDifference(mixed.Logits.AsSpan(3 * vocab, vocab), reference.AsSpan(3 * vocab, vocab)) > 1e-3);
    }

    [Fact]
    public void HiddenStateObserverSeesEveryStageForEveryRow()
    {
        using var model = TinyQwen2.Load();
        var seen = new List<(int Stage, int Rows, int Length)>();
        model.HiddenStates = (stage, rows, hidden) => seen.Add((stage, rows, hidden.Length));
        TinyQwen2.Run(model, model.CreateSequence(), TinyQwen2.Prompt1[..5], all: false);
        int layers = model.Config.Layers, width = model.Config.HiddenSize;
        Assert.Equal(Enumerable.Range(0, layers + 2).Select(s => (s, 5, 5 * width)), seen);
    }
}

/// <summary>Steady-state decoding reuses the model's scratch buffers: a decode step allocates nothing.</summary>
public class Qwen2AllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ADecodeStepAllocatesNothingOnTheCallingThread(int threads)
    {
        using var model = TinyQwen2.Load(threads: threads);
        var sequence = model.CreateSequence();
        TinyQwen2.Run(model, sequence, TinyQwen2.Prompt1);
        var token = new int[1];
        var request = new ForwardRequest { Sequence = sequence, Tokens = token, Logits = new float[model.VocabularySize] };
        ForwardRequest[] batch = [request];
        for (int warm = 0; warm < 3; warm++) { token[0] = warm; model.Forward(batch); }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 8; step++)
        {
            token[0] = 100 + step;
            model.Forward(batch);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(TinyQwen2.Prompt1.Length + 11, model.SequenceLength(sequence));
    }
}
