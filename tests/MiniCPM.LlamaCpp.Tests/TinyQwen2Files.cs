using System.Collections.Concurrent;
using MiniCPM.Kernels.Formats;
using MiniCPM.LlamaCpp.Tests.LlamaCpp;
using MiniCPM.LlamaCpp.Tests.TinyQwen2;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>
/// One random tiny Qwen2 model, written once per weight type to a temporary folder, and each file loaded by
/// llama.cpp at most once; shared by every test in the <see cref="LlamaCppCollection"/>.
/// </summary>
public sealed class TinyQwen2Files : IDisposable
{
    public static readonly TensorType[] WeightTypes = [TensorType.F32, TensorType.F16, TensorType.BF16, TensorType.Q8_0, TensorType.Q4_0];

    private readonly string _folder = Directory.CreateTempSubdirectory("minicpm-llamacpp-").FullName;
    private readonly ConcurrentDictionary<TensorType, string> _paths = new();
    private readonly ConcurrentDictionary<TensorType, LlamaCppModel> _models = new();

    internal ByteLevelVocabulary Vocabulary { get; } = new();
    internal Qwen2Weights Weights { get; }

    public TinyQwen2Files() => Weights = Qwen2Weights.Random(Qwen2Hyperparameters.Tiny, Vocabulary.Count, seed: 2606);

    internal string PathOf(TensorType weightType) => _paths.GetOrAdd(weightType, type =>
    {
        string path = Path.Combine(_folder, $"tiny-qwen2-{type}.gguf");
        TinyQwen2Gguf.Write(path, Weights, Vocabulary, type);
        return path;
    });

    internal LlamaCppModel ModelOf(TensorType weightType) => _models.GetOrAdd(weightType, type => LlamaCppModel.Load(PathOf(type)));

    public void Dispose()
    {
        foreach (var model in _models.Values) model.Dispose();
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { /* a leftover temp folder is harmless */ }
    }
}

/// <summary>The llama.cpp tests share one set of files and run one at a time (the machine has few cores).</summary>
[CollectionDefinition(Name)]
public sealed class LlamaCppCollection : ICollectionFixture<TinyQwen2Files>
{
    public const string Name = "llama.cpp";
}
