using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// One chat message with media, laid out as MiniCPM's <c>chat()</c> does: each item sits where its tag is in the text
/// (<see cref="ImageTag"/>, <see cref="AudioTag"/>), or, when the text has no tags, the items come first, each followed
/// by "\n" (HF joins a content list [image, …, text] with "\n"). Each tag becomes the item's placeholder text, and
/// the tokenized message's placeholder runs are matched one to one with the encoder's embedding rows.
/// </summary>
internal sealed class MediaMessage
{
    public const string ImageTag = "(<image>./</image>)";
    public const string AudioTag = "(<audio>./</audio>)";

    private MediaMessage(int[] tokens, IReadOnlyList<EmbeddingRun> runs, int images)
    {
        Tokens = tokens;
        Runs = runs;
        Images = images;
    }

    /// <summary>The message's ids, template included.</summary>
    public int[] Tokens { get; }

    /// <summary>Runs with starts relative to <see cref="Tokens"/>.</summary>
    public IReadOnlyList<EmbeddingRun> Runs { get; }

    /// <summary>How many images the message holds (they advance the conversation's image index).</summary>
    public int Images { get; }

    public static MediaMessage Build(ChatTemplate template, ChatRole role, string text, IReadOnlyList<ChatMedia> media,
        IMediaEncoder? encoder, int firstImageIndex, int hidden)
    {
        if (encoder is null)
            throw new MediaPromptException("this model has no vision or audio tower (or no media encoder was given), so a message cannot carry images or audio");
        var pieces = Pieces(text, media);

        var encodings = new List<MediaEncoding>();
        int imageIndex = firstImageIndex;
        foreach (var item in media)
            encodings.Add(encoder.Encode(item, item is ImageMedia ? imageIndex++ : imageIndex));
        var rendered = new List<MessagePiece>();
        int next = 0;
        foreach (var piece in pieces)
            rendered.Add(piece.IsPlaceholder ? new MessagePiece(encodings[next++].PlaceholderText, true) : piece);

        int[] tokens = template.EncodeMessage(role, rendered);
        var runs = MatchRuns(template.Tokenizer, tokens, encodings.SelectMany(e => e.Runs).ToArray(), hidden);
        return new MediaMessage(tokens, runs, imageIndex - firstImageIndex);
    }

    /// <summary>The text split at the media tags; a placeholder piece per item, in the items' order.</summary>
    private static List<MessagePiece> Pieces(string text, IReadOnlyList<ChatMedia> media)
    {
        var tags = new List<(int Index, string Tag)>();
        foreach (var tag in new[] { ImageTag, AudioTag })
            for (int at = text.IndexOf(tag, StringComparison.Ordinal); at >= 0; at = text.IndexOf(tag, at + tag.Length, StringComparison.Ordinal))
                tags.Add((at, tag));
        tags.Sort((a, b) => a.Index.CompareTo(b.Index));

        var pieces = new List<MessagePiece>();
        if (tags.Count == 0)
        {
            foreach (var _ in media) { pieces.Add(new MessagePiece("", true)); pieces.Add(new MessagePiece("\n", false)); }
            pieces.Add(new MessagePiece(text, false));
            return pieces;
        }

        string[] expected = media.Select(m => m is ImageMedia ? ImageTag : AudioTag).ToArray();
        string[] found = tags.Select(t => t.Tag).ToArray();
        if (!expected.SequenceEqual(found))
            throw new MediaPromptException($"the message has {Describe(found)} but {Describe(expected)} were given, in that order");
        int position = 0;
        foreach (var (index, tag) in tags)
        {
            pieces.Add(new MessagePiece(text[position..index], false));
            pieces.Add(new MessagePiece("", true));
            position = index + tag.Length;
        }
        pieces.Add(new MessagePiece(text[position..], false));
        return pieces;
    }

    private static IReadOnlyList<EmbeddingRun> MatchRuns(Qwen2Tokenizer tokenizer, int[] tokens,
        IReadOnlyList<ReadOnlyMemory<float>> rows, int hidden)
    {
        var markers = new List<(int, int)>();
        foreach (var (open, close) in new[] { ("<image>", "</image>"), ("<slice>", "</slice>"), ("<|audio_start|>", "<|audio_end|>") })
            if (tokenizer.TokenToId(open) is { } o && tokenizer.TokenToId(close) is { } c) markers.Add((o, c));
        var bounds = PlaceholderRuns.Find(tokens, markers);
        if (bounds.Count != rows.Count)
            throw new MediaPromptException($"the prompt has {bounds.Count} placeholder runs but the media encoder produced {rows.Count}");
        var runs = new List<EmbeddingRun>();
        for (int i = 0; i < bounds.Count; i++)
        {
            var (start, end) = bounds[i];
            if (rows[i].Length != (long)(end - start) * hidden)
                throw new MediaPromptException($"placeholder run {i} holds {end - start} tokens but {rows[i].Length / (double)hidden} embedding rows of width {hidden} were produced");
            runs.Add(new EmbeddingRun(start, end - start, rows[i]));
        }
        return runs;
    }

    private static string Describe(string[] tags) =>
        $"{tags.Count(t => t == ImageTag)} image and {tags.Count(t => t == AudioTag)} audio tag(s)";
}
