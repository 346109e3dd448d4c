namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>The Qwen2 vocabulary and llama.cpp's 43 test cases in tests/data/qwen2-tokenizer (see its README).</summary>
internal static class TokenizerTestData
{
    public static string Folder { get; } = Locate();

    public static string TokenizerJsonGz => Path.Combine(Folder, "tokenizer.json.gz");

    /// <summary>(input text, expected ids) for each case of vocab-test.inp / vocab-test.out.</summary>
    public static IReadOnlyList<(string Text, int[] Ids)> VocabCases { get; } = ReadVocabCases();

    private static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "data", "qwen2-tokenizer");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/data/qwen2-tokenizer not found above " + AppContext.BaseDirectory);
    }

    // Same format as llama.cpp's test-tokenizer-0: inputs separated (and terminated) by "\n__ggml_vocab_test__\n",
    // one line of space-separated ids per input in the .out file.
    private static List<(string, int[])> ReadVocabCases()
    {
        var inputs = File.ReadAllText(Path.Combine(Folder, "vocab-test.inp")).Split("\n__ggml_vocab_test__\n");
        var outputs = File.ReadAllText(Path.Combine(Folder, "vocab-test.out")).Split('\n');
        var cases = new List<(string, int[])>();
        for (var i = 0; i < inputs.Length - 1; i++)
            cases.Add((inputs[i], outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()));
        return cases;
    }
}
