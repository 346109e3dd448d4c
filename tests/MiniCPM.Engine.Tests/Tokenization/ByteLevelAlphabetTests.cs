using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

public sealed class ByteLevelAlphabetTests
{
    [Theory]
    [InlineData(0x20, 'Ġ')]   // GPT-2: space is U+0120
    [InlineData(0x0A, 'Ċ')]   // newline U+010A
    [InlineData(0x00, '\u0100')]
    [InlineData(0x21, '!')]
    [InlineData(0xAD, '\u0143')] // soft hyphen is not printable: 68th-but-some remapped character
    [InlineData(0xFF, 'ÿ')]
    public void MapsBytesLikeGpt2(int value, char expected) => Assert.Equal(expected, ByteLevelAlphabet.ToChar((byte)value));

    [Fact]
    public void IsABijectionOverAllBytes()
    {
        var all = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        var text = ByteLevelAlphabet.Encode(all);
        Assert.Equal(256, text.Distinct().Count());
        Assert.Equal(all, ByteLevelAlphabet.Decode(text));
    }
}
