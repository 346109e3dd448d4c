using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>
/// A fake model over the real Qwen2 vocabulary that answers each assistant turn with a scripted reply and then
/// &lt;|im_end|&gt;: after the n-th <c>&lt;|im_start|&gt;assistant\n</c> of a sequence its logits peak (10) at the next token
/// of <c>replies(n)</c>. Other rows get small deterministic values (−6…−5), except the rows beyond the tokenizer's
/// vocabulary (padding of the lm_head), which get 20: a generator that forgets to mask them picks them at once.
/// </summary>
internal static class ScriptedChatModel
{
    public const int PaddingRows = 16;

    public static FakeLanguageModel Create(Qwen2Tokenizer tokenizer, Func<int, int[]> replies,
        int maxSequenceLength = 4096, int blockSize = 4)
    {
        var imStart = tokenizer.Specials.ImStart!.Value;
        var imEnd = tokenizer.Specials.ImEnd!.Value;
        int[] header = [imStart, .. tokenizer.Encode("assistant\n")];
        var vocabulary = tokenizer.VocabularySize;

        return new FakeLanguageModel(vocabulary + PaddingRows, (tokens, logits) =>
        {
            var turn = -1;
            var replyStart = 0;
            for (var i = 0; i + header.Length <= tokens.Count; i++)
            {
                if (!tokens.Skip(i).Take(header.Length).SequenceEqual(header)) continue;
                turn++;
                replyStart = i + header.Length;
            }
            var script = turn >= 0 ? replies(turn) : [];
            var position = tokens.Count - replyStart;
            var next = turn >= 0 && position < script.Length ? script[position] : imEnd;

            for (var v = 0; v < logits.Length; v++)
                logits[v] = v >= vocabulary ? 20f : -5f - (uint)(v * 2654435761u + (uint)tokens.Count) % 1000 / 1000f;
            logits[next] = 10f;
        }, maxSequenceLength, blockSize);
    }
}
