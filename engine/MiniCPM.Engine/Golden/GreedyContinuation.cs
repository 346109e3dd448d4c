using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The golden cases' greedy continuation (HF <c>generate(do_sample=False)</c> without EOS): from the prompt's last
/// logits, pick the arg-max, record the logits it was picked from, feed it, repeat. Records generated_ids,
/// gen_step_logits and gen_chosen_logits.
/// </summary>
internal static class GreedyContinuation
{
    public static void Run(ILanguageModel model, SequenceId sequence, ReadOnlySpan<float> promptLastLogits, int generate, GoldenOutputs outputs)
    {
        int vocab = model.VocabularySize;
        var ids = new int[generate];
        var stepLogits = new float[generate * vocab];
        var chosen = new float[generate];
        var next = promptLastLogits.ToArray();
        for (int t = 0; t < generate; t++)
        {
            next.CopyTo(stepLogits.AsSpan(t * vocab));
            ids[t] = ArgMax(next);
            chosen[t] = next[ids[t]];
            if (t + 1 == generate) break;
            model.Forward([new ForwardRequest { Sequence = sequence, Tokens = new[] { ids[t] }, Logits = next }]);
        }
        outputs.Add("generated_ids", ids);
        outputs.Add("gen_step_logits", stepLogits);
        outputs.Add("gen_chosen_logits", chosen);
    }

    /// <summary>The first index of the largest value (torch.argmax's tie rule).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
