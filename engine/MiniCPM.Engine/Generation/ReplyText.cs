using System.Text;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// Turns a reply's ids into text as they come, and finds stop strings. Text is released only when final: bytes of
/// an unfinished UTF-8 character wait in the <see cref="StreamingDecoder"/>, and a tail that could be the start of a
/// stop string waits here. When a stop string appears, the text before its first occurrence is released and the rest
/// dropped. Without stop strings the released texts concatenate to <c>Decode(ids)</c>.
/// </summary>
internal sealed class ReplyText
{
    private readonly StreamingDecoder _decoder;
    private readonly IReadOnlyList<string> _stopStrings;
    private readonly StringBuilder _held = new();
    private readonly StringBuilder _released = new();

    public ReplyText(Qwen2Tokenizer tokenizer, IReadOnlyList<string> stopStrings)
    {
        _decoder = new StreamingDecoder(tokenizer);
        _stopStrings = stopStrings;
    }

    /// <summary>All text released so far.</summary>
    public string Released => _released.ToString();

    /// <summary>Whether a stop string was found (nothing more is released after that).</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds a reply id; returns the text released by it.</summary>
    public string Push(int id) => Stopped ? "" : Release(_decoder.Push(id), final: false);

    /// <summary>Ends the reply: returns everything still held (an unfinished character becomes U+FFFD).</summary>
    public string Finish() => Stopped ? "" : Release(_decoder.Flush(), final: true);

    private string Release(string completed, bool final)
    {
        _held.Append(completed);
        var held = _held.ToString();

        var stopAt = FirstStopString(held);
        int releaseLength;
        if (stopAt >= 0)
        {
            Stopped = true;
            releaseLength = stopAt;
        }
        else
        {
            releaseLength = final ? held.Length : held.Length - LongestStopPrefixSuffix(held);
        }

        var released = held[..releaseLength];
        _held.Clear();
        if (!Stopped) _held.Append(held, releaseLength, held.Length - releaseLength);
        _released.Append(released);
        return released;
    }

    private int FirstStopString(string text)
    {
        var first = -1;
        foreach (var stop in _stopStrings)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that is a proper prefix of a stop string: that
    /// much must wait, the next token might complete the stop string.</summary>
    private int LongestStopPrefixSuffix(string text)
    {
        var longest = 0;
        foreach (var stop in _stopStrings)
        {
            for (var length = Math.Min(stop.Length - 1, text.Length); length > longest; length--)
            {
                if (string.CompareOrdinal(text, text.Length - length, stop, 0, length) == 0)
                {
                    longest = length;
                    break;
                }
            }
        }
        return longest;
    }
}
