using System.Globalization;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>
/// NFC against lines of the Unicode Consortium's NormalizationTest.txt (Unicode 15.0): column 1 is the source,
/// column 2 its NFC. (The whole file, 19,000+ lines, was also run once by hand while writing UnicodeNfc.)
/// </summary>
public sealed class UnicodeNfcTests
{
    public static TheoryData<string, string> NormalizationTestLines() => new()
    {
        // Part 0, specific cases.
        { "1E0A 0323", "1E0C 0307" },
        { "0044 0307 0323", "1E0C 0307" },
        { "0044 031B 0307 0323", "1E0C 031B 0307" },
        { "0045 0304 0300", "1E14" },
        { "0045 0300 0304", "00C8 0304" },
        { "1E14 0304", "1E14 0304" },
        { "05B8 05B9 05B1 0591 05C3 05B0 05AC 059F", "05B1 05B8 05B9 0591 05C3 05B0 05AC 059F" },
        { "0592 05B7 05BC 05A5 05B0 05C0 05C4 05AD", "05B0 05B7 05BC 05A5 0592 05C0 05AD 05C4" },
        { "1100 AC00 11A8", "1100 AC01" },
        { "1100 AC00 11A8 11A8", "1100 AC01 11A8" },
        // Parts 1–2, sampled.
        { "0061 0360 0345 035D 035C 0062", "0061 035C 0360 035D 0345 0062" },
        { "2F818", "51A4" },
        { "0061 0315 0300 05AE 0745 0062", "00E0 05AE 0745 0315 0062" },
        { "0061 1134D 05B0 094D 3099 0062", "0061 3099 1134D 094D 05B0 0062" },
        { "F96F", "8AAA" },
        { "0061 1DDA 0315 0300 05AE 0062", "0061 05AE 1DDA 0300 0315 0062" },
        { "0061 0619 0618 064D 064E 0062", "0061 064D 0618 064E 0619 0062" },
        { "2F91E", "719C" },
    };

    [Theory]
    [MemberData(nameof(NormalizationTestLines))]
    public void MatchesNormalizationTest(string source, string nfc) =>
        Assert.Equal(FromHex(nfc), UnicodeNfc.Normalize(FromHex(source)));

    [Theory]
    [InlineData("")]
    [InlineData("plain ASCII\n\t")]
    [InlineData("é 한국어 😀")]
    public void LeavesNormalizedTextAlone(string text) => Assert.Equal(text, UnicodeNfc.Normalize(text));

    [Fact]
    public void KeepsLoneSurrogates() => Assert.Equal("a\uD800e\u0301".Replace("e\u0301", "é"),
        UnicodeNfc.Normalize("a\uD800e\u0301"));

    private static string FromHex(string codePoints) => string.Concat(codePoints.Split(' ')
        .Select(h => char.ConvertFromUtf32(int.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture))));
}
