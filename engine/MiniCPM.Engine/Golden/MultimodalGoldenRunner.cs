using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Vision;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `multimodal` case (golden README §4): one slice through SigLIP and the resampler alone (image_embeds), the
/// prompt's embeddings with the rows of each image_bound [start, end) replaced by them (inputs_embeds, as the
/// decoder sees them), the LLM logits at every position, and a greedy continuation (argmax, no EOS stop) with the
/// logits each token was chosen from — new tokens embedded by the token table.
/// </summary>
public sealed class MultimodalGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "multimodal";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        int[] prompt = goldenCase.ReadInts("input_ids");
        outputs.MarkInput("input_ids");
        int[] bounds = goldenCase.ReadInts("image_bound");
        outputs.MarkInput("image_bound");
        int generate = goldenCase.Manifest.Find("generated_ids") is { } g ? checked((int)g.Shape[0]) : 0;

        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        using var tower = VisionTower.Load(checkpoint, options.Threads);
        var slices = GoldenSlices.Read(goldenCase, outputs, tower.Encoder.Config.PatchSize);
        var imageRows = tower.Embed(slices.Select(s => s.Slice).ToList());
        outputs.Add("image_embeds", imageRows.SelectMany(r => r).ToArray());

        using var model = new Qwen2Model(checkpoint, new Qwen2Options { Threads = options.Threads, KvCacheTokens = 2 * (prompt.Length + generate + 16) });
        int hidden = model.Config.HiddenSize, vocab = model.VocabularySize;
        var (embeddings, mask) = PlaceImageRows(goldenCase, prompt.Length, hidden, bounds, imageRows, tower.RowsPerSlice);

        float[]? inputsEmbeds = null;
        model.HiddenStates = (stage, rows, states) => { if (stage == 0) inputsEmbeds = states[..(rows * hidden)].ToArray(); };
        var sequence = model.CreateSequence();
        var prefill = new ForwardRequest { Sequence = sequence, Tokens = prompt, Embeddings = embeddings, EmbeddingMask = mask, AllLogits = true };
        model.Forward([prefill]);
        model.HiddenStates = null;
        outputs.Add("inputs_embeds", inputsEmbeds!);
        outputs.Add("logits", prefill.Logits.AsSpan(0, prompt.Length * vocab));

        if (generate > 0)
            GreedyContinuation.Run(model, sequence, prefill.Logits.AsSpan((prompt.Length - 1) * vocab, vocab), generate, outputs);
        model.FreeSequence(sequence);
    }

    /// <summary>
    /// The prompt-length embedding rows and mask with image slice i's rows at bound i (image_bound [n, 2], in order);
    /// each bound must span exactly one slice's rows.
    /// </summary>
    private static (float[] Embeddings, bool[] Mask) PlaceImageRows(GoldenCase goldenCase, int length, int hidden,
        int[] bounds, float[][] imageRows, int rowsPerSlice)
    {
        if (bounds.Length / 2 != imageRows.Length)
            throw new GoldenCaseException(goldenCase.Directory, $"{bounds.Length / 2} image bounds for {imageRows.Length} image slices");
        var embeddings = new float[length * hidden];
        var mask = new bool[length];
        for (int i = 0; i < imageRows.Length; i++)
        {
            int start = bounds[2 * i], end = bounds[2 * i + 1];
            if (start < 0 || end > length || end - start != rowsPerSlice)
                throw new GoldenCaseException(goldenCase.Directory, $"image bound [{start}, {end}) must hold {rowsPerSlice} rows inside the {length}-token prompt");
            imageRows[i].CopyTo(embeddings, start * hidden);
            mask.AsSpan(start, end - start).Fill(true);
        }
        return (embeddings, mask);
    }
}
