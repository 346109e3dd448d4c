using System.Text;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Turns generated ids into text one id at a time. A token may end in the middle of a UTF-8 character (CJK, emoji
/// are often split over two or three tokens); those bytes are held back until the character is complete, so no
/// half character or U+FFFD is ever emitted for a sequence that later completes. Everything emitted plus
/// <see cref="Flush"/> equals <see cref="Qwen2Tokenizer.Decode"/> of the same ids.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Qwen2Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    // A stateful UTF-8 decoder keeps an incomplete trailing sequence between calls and replaces invalid bytes
    // exactly as the one-shot Encoding.UTF8.GetString does.
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetDecoder();
    private char[] _chars = new char[64];

    public StreamingDecoder(Qwen2Tokenizer tokenizer, bool skipSpecialTokens = false)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text completed by it (possibly empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary.</exception>
    public string Push(int id)
    {
        var bytes = _tokenizer.GetTokenBytes(id);
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id)) return "";
        return Convert(bytes, flush: false);
    }

    /// <summary>Ends the stream: returns what is still held back (an unfinished character becomes U+FFFD) and
    /// resets the decoder for a new stream.</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        var needed = _utf8.GetCharCount(bytes, flush);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        var written = _utf8.GetChars(bytes, _chars, flush);
        return new string(_chars, 0, written);
    }
}
