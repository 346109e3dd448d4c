using System.Runtime.CompilerServices;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// Which logits rows the tokenizer can turn back into text. The lm_head is often wider than the vocabulary (Qwen2-7B:
/// 152,064 rows for about 151,650 tokens) and a vocabulary may have gaps; the tokenizer throws on such ids, so they
/// are never chosen. Built once per tokenizer and width.
/// </summary>
internal static class DecodableIds
{
    private static readonly ConditionalWeakTable<Qwen2Tokenizer, Dictionary<int, bool[]>> Cache = new();

    /// <summary>true at each id the tokenizer decodes, for ids 0 … width−1.</summary>
    public static bool[] For(Qwen2Tokenizer tokenizer, int width)
    {
        var byWidth = Cache.GetOrCreateValue(tokenizer);
        lock (byWidth)
        {
            if (byWidth.TryGetValue(width, out var known)) return known;
            var decodable = new bool[width];
            for (var id = 0; id < Math.Min(width, tokenizer.VocabularySize); id++)
            {
                try
                {
                    tokenizer.GetTokenBytes(id);
                    decodable[id] = true;
                }
                catch (ArgumentOutOfRangeException)
                {
                    // a gap in the vocabulary
                }
            }
            byWidth[width] = decodable;
            return decodable;
        }
    }

    /// <summary>Sets the scores of undecodable ids to −∞.</summary>
    public static void Mask(Span<float> scores, bool[]? decodable)
    {
        if (decodable is null) return;
        for (var i = 0; i < scores.Length; i++)
            if (i >= decodable.Length || !decodable[i]) scores[i] = float.NegativeInfinity;
    }
}
