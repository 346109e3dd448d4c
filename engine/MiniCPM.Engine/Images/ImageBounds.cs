using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Images;

/// <summary>
/// Where image embeddings go in a token sequence (HF image_bound): for every <c>&lt;image&gt;</c> or
/// <c>&lt;slice&gt;</c> token a span from the position after it up to (not including) the next
/// <c>&lt;/image&gt;</c> or <c>&lt;/slice&gt;</c>. Spans come out in sequence order, which is the order of the
/// pieces (image 0 overview, image 0 tiles row-major, image 1 overview, …).
/// </summary>
public static class ImageBounds
{
    public readonly record struct Span(int Start, int End)
    {
        public int Length => End - Start;
    }

    public static IReadOnlyList<Span> Find(ReadOnlySpan<int> tokenIds, SpecialTokenIds ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.ImageStart is not int imageStart || ids.ImageEnd is not int imageEnd)
            throw new ArgumentException("the vocabulary has no <image> / </image> tokens", nameof(ids));
        int? sliceStart = ids.SliceStart, sliceEnd = ids.SliceEnd;

        var spans = new List<Span>();
        int open = -1;
        for (int i = 0; i < tokenIds.Length; i++)
        {
            int id = tokenIds[i];
            if (id == imageStart || id == sliceStart)
            {
                if (open >= 0) throw new ImagePlaceholderException($"image start token at position {i} inside the image span opened at {open - 1}");
                open = i + 1;
            }
            else if (id == imageEnd || id == sliceEnd)
            {
                if (open < 0) throw new ImagePlaceholderException($"image end token at position {i} has no start token");
                spans.Add(new Span(open, i));
                open = -1;
            }
        }
        if (open >= 0) throw new ImagePlaceholderException($"the image span opened at position {open - 1} is never closed");
        return spans;
    }
}
