using System.Text;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using MiniCPM.LlamaCpp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>
/// What `minicpm make-model` writes (the synthetic <c>tiny</c> preset, F16, Qwen2's real fitted vocabulary in the GGUF
/// metadata) is a file llama.cpp accepts: it loads, its tokenizer splits text exactly as the engine's tokenizer does
/// (read from the same metadata), and it computes finite logits close to the engine's.
/// </summary>
[Collection(LlamaCppCollection.Name)] // one llama.cpp test at a time
public sealed class MakeModelLlamaCppTests(MakeModelLlamaCppTests.TinyPresetFile file, ITestOutputHelper output)
    : IClassFixture<MakeModelLlamaCppTests.TinyPresetFile>
{
    public sealed class TinyPresetFile : IDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("minicpm-makemodel-").FullName;

        public TinyPresetFile()
        {
            Path = System.IO.Path.Combine(_folder, "tiny-f16.gguf");
            SyntheticModel.WriteGguf(SyntheticModelSpec.Preset("tiny"), Path, TensorType.F16, seed: 7);
            Llama = LlamaCppModel.Load(Path);
        }

        public string Path { get; }
        internal LlamaCppModel Llama { get; }

        public void Dispose()
        {
            Llama.Dispose();
            try { Directory.Delete(_folder, recursive: true); }
            catch (IOException) { /* a leftover temp folder is harmless */ }
        }
    }

    public static TheoryData<string> Texts => new()
    {
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "  leading spaces and\ttabs\nand newlines\n\n",
        "numbers 12345 and 3.14159, contractions: it's, we'll, they're",
        "Unicode: café, naïve, 日本語, emoji 🙂",
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void Llama_cpp_tokenizes_like_the_engine(string text)
    {
        var engine = ModelTokenizer.Load(file.Path).Encode(text, allowSpecial: true);
        var llama = file.Llama.Weights.Tokenize(text, add_bos: false, special: true, Encoding.UTF8).Select(t => (int)t).ToArray();

        output.WriteLine($"{engine.Length} tokens: {string.Join(' ', engine)}");
        Assert.Equal(engine, llama);
    }

    [Fact]
    public void Llama_cpp_logits_are_finite_and_close_to_the_engine()
    {
        var tokenizer = ModelTokenizer.Load(file.Path);
        var prompt = tokenizer.Encode("<|im_start|>user\nWhat is a prime number?<|im_end|>\n<|im_start|>assistant\n", allowSpecial: true);
        var llama = file.Llama.DecodeLogits(prompt, []);

        using var model = Qwen2Model.Load(file.Path, new Qwen2Options { Threads = 1, KvCacheTokens = 64 });
        var request = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = prompt, AllLogits = true };
        model.Forward([request]);
        int vocab = model.VocabularySize;

        double worst = 0;
        for (int t = 0; t < prompt.Length; t++)
        {
            Assert.Equal(vocab, llama[t].Length);
            Assert.All(llama[t], v => Assert.True(float.IsFinite(v), $"position {t}: llama.cpp logit {v}"));
            double scale = llama[t].Max(MathF.Abs), difference = 0;
            for (int i = 0; i < vocab; i++) difference = Math.Max(difference, Math.Abs(request.Logits![t * vocab + i] - llama[t][i]));
            worst = Math.Max(worst, difference / scale);
        }
        output.WriteLine($"tiny preset F16, {prompt.Length} positions: max |engine − llama.cpp| / max |logit| = {worst:E2}");
        // llama.cpp rounds activations to F16 before F16 products, the engine does not: the same 5e-3 as the F16 parity test.
        Assert.True(worst <= 5e-3, $"relative logit difference {worst:E3}");
    }
}
