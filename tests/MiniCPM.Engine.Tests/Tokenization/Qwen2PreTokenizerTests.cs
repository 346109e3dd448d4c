using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>Pieces worked out by hand from the regex's alternatives (leftmost, first alternative that matches).</summary>
public sealed class Qwen2PreTokenizerTests
{
    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("I'm he's THEY'LL", new[] { "I", "'m", " he", "'s", " THEY", "'LL" })]
    [InlineData("x 123", new[] { "x", " ", "1", "2", "3" })]                       // digits one by one; space alone
    [InlineData(" (a) ", new[] { " (", "a", ")", " " })]
    [InlineData("a  b", new[] { "a", " ", " b" })]                                 // \s+(?!\S) leaves one space
    [InlineData("a \n\n b", new[] { "a", " \n\n", " b" })]                         // \s*[\r\n]+
    [InlineData("!!\n\nx", new[] { "!!\n\n", "x" })]                               // [\r\n]* after punctuation
    [InlineData("\tword", new[] { "\tword" })]                                     // optional non-letter before letters
    [InlineData("\nword", new[] { "\n", "word" })]                                 // …but never \r or \n
    [InlineData("a\U0001D7CE\U0001D7CF", new[] { "a", "\U0001D7CE", "\U0001D7CF" })] // astral digits are \p{N}
    [InlineData("ab\U00010330c", new[] { "ab\U00010330c" })]                       // astral letters are \p{L}
    [InlineData("end   ", new[] { "end", "   " })]                                 // trailing whitespace kept whole
    public void SplitsLikeTheRegex(string text, string[] expected)
    {
        var pieces = Qwen2PreTokenizer.Split(text).Select(p => text.Substring(p.Offset, p.Length)).ToArray();
        Assert.Equal(expected, pieces);
    }
}
