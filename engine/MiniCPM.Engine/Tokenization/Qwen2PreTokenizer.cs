using System.Text;
using Microsoft.ML.Tokenizers;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Qwen2's pre-tokenizer: splits text into the pieces that BPE works on, exactly as Hugging Face's Split with the regex
/// <see cref="Pattern"/> (behaviour "Isolated") does.
/// </summary>
/// <remarks>
/// Why not a .NET <c>Regex</c> with the same pattern: .NET regexes see UTF-16 code units, so a letter or digit outside
/// the BMP (𝐀, 𐌰, 𝟎, CJK extension B) is two surrogates of category Cs and falls into the "other" class, which changes
/// the split (e.g. "a𝟎𝟏" gives "a","𝟎𝟏" instead of "a","𝟎","𝟏") and sometimes the ids ("𐌰.a!": 151247 13 64 0
/// instead of Hugging Face's 151247 5849 0). This scanner works on code points and follows the pattern's alternatives
/// in order, with the same greedy/backtracking outcome.
/// </remarks>
public sealed class Qwen2PreTokenizer : PreTokenizer
{
    /// <summary>The split regex of Qwen2's tokenizer.json (and of llama.cpp's "qwen2" pre-tokenizer).</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static Qwen2PreTokenizer Instance { get; } = new();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        text is null ? [] : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    private enum Kind : byte { Letter, Number, Space, Newline, Other }

    /// <summary>Splits <paramref name="text"/>; returns (offset, length) pairs in UTF-16 units that cover it.</summary>
    public static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        // One entry per code point: where it starts in the text and its class.
        var starts = new List<int>(text.Length + 1);
        var kinds = new List<Kind>(text.Length);
        var values = new List<int>(text.Length);
        for (var i = 0; i < text.Length;)
        {
            var status = Rune.DecodeFromUtf16(text[i..], out var rune, out var used);
            starts.Add(i);
            // A lone surrogate is an "other" character; it becomes U+FFFD's bytes later, as in .NET's UTF-8 encoder.
            kinds.Add(status == System.Buffers.OperationStatus.Done ? Classify(rune) : Kind.Other);
            values.Add(status == System.Buffers.OperationStatus.Done ? rune.Value : 0xFFFD);
            i += used;
        }
        starts.Add(text.Length);

        var pieces = new List<(int, int)>();
        var n = kinds.Count;
        for (var pos = 0; pos < n;)
        {
            var end = MatchAt(pos, n, kinds, values);
            pieces.Add((starts[pos], starts[end] - starts[pos]));
            pos = end;
        }
        return pieces;
    }

    private static Kind Classify(Rune r)
    {
        if (r.Value is '\r' or '\n') return Kind.Newline;
        if (Rune.IsLetter(r)) return Kind.Letter;
        if (Rune.IsNumber(r)) return Kind.Number;
        if (Rune.IsWhiteSpace(r)) return Kind.Space;
        return Kind.Other;
    }

    private static bool IsSpaceLike(Kind k) => k is Kind.Space or Kind.Newline; // \s

    /// <summary>Returns the end (in code points) of the pattern's match that starts at <paramref name="pos"/>.</summary>
    private static int MatchAt(int pos, int n, List<Kind> kinds, List<int> values)
    {
        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (values[pos] == '\'' && pos + 1 < n)
        {
            var len = ContractionLength(pos + 1, n, values);
            if (len > 0) return pos + 1 + len;
        }

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        var letterStart = kinds[pos] == Kind.Letter ? pos
            : kinds[pos] is Kind.Space or Kind.Other && pos + 1 < n && kinds[pos + 1] == Kind.Letter ? pos + 1 : -1;
        if (letterStart >= 0) return RunEnd(letterStart, n, kinds, k => k == Kind.Letter);

        // 3. \p{N}  (one digit at a time)
        if (kinds[pos] == Kind.Number) return pos + 1;

        // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        var otherStart = kinds[pos] == Kind.Other ? pos
            : values[pos] == ' ' && pos + 1 < n && kinds[pos + 1] == Kind.Other ? pos + 1 : -1;
        if (otherStart >= 0)
        {
            var afterOthers = RunEnd(otherStart, n, kinds, k => k == Kind.Other);
            return RunEnd(afterOthers, n, kinds, k => k == Kind.Newline);
        }

        // What is left starts with whitespace.
        var spaceEnd = RunEnd(pos, n, kinds, IsSpaceLike);

        // 5. \s*[\r\n]+  — backtracking leaves the match ending just after the run's last \r or \n.
        for (var k = spaceEnd - 1; k >= pos; k--)
            if (kinds[k] == Kind.Newline) return k + 1;

        // 6. \s+(?!\S)  — whole run at the end of text, else the run less its last character (if any remains).
        if (spaceEnd == n) return n;
        if (spaceEnd - 1 > pos) return spaceEnd - 1;

        // 7. \s+
        return spaceEnd;
    }

    private static int RunEnd(int from, int n, List<Kind> kinds, Func<Kind, bool> inRun)
    {
        var i = from;
        while (i < n && inRun(kinds[i])) i++;
        return i;
    }

    /// <summary>Length of s|t|re|ve|m|ll|d (case-insensitive, Unicode simple case folding) at <paramref name="at"/>.</summary>
    private static int ContractionLength(int at, int n, List<int> values)
    {
        int Fold(int i) => i < n ? FoldAscii(values[i]) : -1;
        var c0 = Fold(at);
        if (c0 is 's' or 't' or 'm' or 'd') return 1;
        var c1 = Fold(at + 1);
        if ((c0 == 'r' || c0 == 'v') && c1 == 'e') return 2;
        if (c0 == 'l' && c1 == 'l') return 2;
        return 0;
    }

    /// <summary>Lower-cases ASCII letters; U+017F (long s) and U+212A (Kelvin sign) fold to 's' and 'k'.</summary>
    private static int FoldAscii(int cp) => cp switch
    {
        >= 'A' and <= 'Z' => cp + 32,
        0x017F => 's',
        0x212A => 'k',
        _ => cp,
    };
}
