using System.IO.Compression;
using System.Text;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>Missing or corrupt files give ModelFormatException naming the file; bad ids give
/// ArgumentOutOfRangeException naming the id.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class BadInputTests(Qwen2TokenizerFixture fixture)
{
    private const string MinimalJson = """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]},
         "normalizer": {"type": "NFC"},
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "PATTERN"}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
         "added_tokens": [{"id": 5, "content": "<s>", "special": true}]}
        """;

    private static string Minimal => MinimalJson.Replace("PATTERN",
        Qwen2PreTokenizer.Pattern.Replace(@"\", @"\\"));

    [Fact]
    public void MinimalFileLoads()
    {
        var dir = TestData.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), Minimal);
        var t = Qwen2Tokenizer.FromHuggingFace(dir);
        Assert.Equal([2, 5, 0], t.Encode("ab<s>a"));
        Assert.Equal(6, t.VocabularySize);
        // Ids 3 and 4 have no token: a hole, not a crash.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([3]));
        Assert.Contains("3", e.Message);
    }

    [Fact]
    public void MissingFile()
    {
        var path = Path.Combine(TestData.TempDirectory(), "tokenizer.json");
        var e = Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromHuggingFace(path));
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void FolderWithoutTokenizer() =>
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromHuggingFace(TestData.TempDirectory()));

    [Theory]
    [InlineData("{\"model\": {")]                                        // truncated JSON
    [InlineData("[1, 2, 3]")]                                            // not an object
    [InlineData("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}")] // wrong model
    public void CorruptJson(string content)
    {
        var path = Path.Combine(TestData.TempDirectory(), "tokenizer.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromHuggingFace(path));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith("tokenizer.json:", e.Message);
    }

    [Theory]
    [InlineData("\"merges\": [[\"a\", \"b\"]]", "\"merges\": [[\"a\"]]")]               // merge is not a pair
    [InlineData("\"a\": 0,", "\"a\": -4,")]                                              // negative id
    [InlineData("{\"type\": \"NFC\"}", "{\"type\": \"Lowercase\"}")]                     // other normalizer
    [InlineData("\"Isolated\"", "\"Removed\"")]                                          // other split behaviour
    [InlineData("\"use_regex\": false", "\"use_regex\": true")]                          // GPT-2 regex on top
    public void UnsupportedOrMalformedContent(string from, string to)
    {
        var path = Path.Combine(TestData.TempDirectory(), "tokenizer.json");
        Assert.Contains(from, Minimal);
        File.WriteAllText(path, Minimal.Replace(from, to));
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromHuggingFace(path));
    }

    [Fact]
    public void CorruptGzip()
    {
        var path = Path.Combine(TestData.TempDirectory(), "tokenizer.json.gz");
        var bytes = File.ReadAllBytes(TokenizerTestData.TokenizerJsonGz)[..5000];
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromHuggingFace(path));
        Assert.Contains("tokenizer.json.gz", e.Message);
    }

    [Fact]
    public void CorruptSiblingConfigNamesThatFile()
    {
        var dir = TestData.TempDirectory();
        using (var gz = new GZipStream(File.Create(Path.Combine(dir, "tokenizer.json.gz")), CompressionLevel.Fastest))
            gz.Write(Encoding.UTF8.GetBytes(Minimal));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{ not json");
        var e = Assert.Throws<ModelFormatException>(() =>
            Qwen2Tokenizer.FromHuggingFace(Path.Combine(dir, "tokenizer.json.gz")));
        Assert.Contains("tokenizer_config.json", e.Message);
    }

    [Fact]
    public void BadParts()
    {
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromParts(["a", "b"], ["a b"], [1]));    // count
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromParts(["a", "b"], ["ab"], [1, 1]));  // merge
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromParts(["a", "b"], [], [1, 9]));      // type
        Assert.Throws<ModelFormatException>(() => Qwen2Tokenizer.FromParts(["a", ""], [], [1, 1]));       // empty
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void DecodeRejectsIdsOutOfRange(int id)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => fixture.FromJson.Decode([9707, id]));
        Assert.Contains(id.ToString(), e.Message);
        Assert.Equal(id, e.ActualValue);
    }

    [Fact]
    public void DecodeRejectsTheFirstIdPastTheVocabulary()
    {
        var id = fixture.FromJson.VocabularySize;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => fixture.FromJson.Decode([id]));
        Assert.Contains(id.ToString(), e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.FromJson.IdToToken(id));
    }
}
