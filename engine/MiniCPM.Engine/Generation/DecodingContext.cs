using System.Collections.Immutable;
using System.Runtime.InteropServices;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Generation;

/// <summary>What every decoding strategy needs besides the model: checked options, the stop-token set, the mask of
/// decodable ids, and the tokenizer for text and stop strings.</summary>
internal sealed record DecodingContext(
    GenerationOptions Options, IReadOnlySet<int> StopTokens, bool[]? Decodable, Qwen2Tokenizer? Tokenizer)
{
    public static DecodingContext Create(ILanguageModel model, Qwen2Tokenizer? tokenizer, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (tokenizer is null && options.StopStrings.Count > 0)
            throw new ArgumentException("Stop strings need a tokenizer to decode the reply.", nameof(options));

        var stops = new HashSet<int>(options.StopTokenIds ?? DefaultStopTokens(model, tokenizer));
        var decodable = tokenizer is null ? null : DecodableIds.For(tokenizer, model.VocabularySize);
        return new DecodingContext(options, stops, decodable, tokenizer);
    }

    /// <summary>MiniCPM's terminators &lt;|im_end|&gt; and &lt;|endoftext|&gt;; without a tokenizer the model's eos id.</summary>
    private static IEnumerable<int> DefaultStopTokens(ILanguageModel model, Qwen2Tokenizer? tokenizer)
    {
        if (tokenizer is not null)
        {
            if (tokenizer.Specials.ImEnd is { } imEnd) yield return imEnd;
            if (tokenizer.Specials.EndOfText is { } endOfText) yield return endOfText;
        }
        else if (model.Config.EosTokenId is { } eos)
        {
            yield return eos;
        }
    }

    /// <summary><see cref="Decodable"/> for <see cref="IDeviceGreedyDecoder"/> (default: every id). The arrays of
    /// <see cref="DecodableIds.For"/> are built once and never changed.</summary>
    public ImmutableArray<bool> AllowedIds => Decodable is null ? default : ImmutableCollectionsMarshal.AsImmutableArray(Decodable);

    public ReplyText? NewReplyText() => Tokenizer is null ? null : new ReplyText(Tokenizer, Options.StopStrings);

    /// <summary>Throws unless <paramref name="cached"/> + <paramref name="prompt"/> tokens leave room for one more.</summary>
    public static void CheckRoom(ILanguageModel model, int cached, IReadOnlyCollection<int> prompt)
    {
        foreach (var id in prompt)
            if ((uint)id >= (uint)model.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(prompt), id,
                    $"Token id {id} is outside the model's vocabulary (size {model.VocabularySize}).");
        if (cached + prompt.Count + 1 > model.MaxSequenceLength)
            throw new PromptTooLongException(cached + prompt.Count, model.MaxSequenceLength);
    }

    /// <summary>Appends <paramref name="tokens"/> to the sequence and returns the last position's logits.</summary>
    public static float[] Feed(ILanguageModel model, SequenceId sequence, ReadOnlyMemory<int> tokens, float[]? buffer = null) =>
        Feed(model, new ForwardRequest { Sequence = sequence, Tokens = tokens, Logits = buffer });

    /// <summary>Runs one prepared request (ids, maybe embedding rows) and returns the last position's logits.</summary>
    public static float[] Feed(ILanguageModel model, ForwardRequest request)
    {
        model.Forward([request]);
        return request.Logits ?? throw new InvalidOperationException("The model returned no logits.");
    }
}
