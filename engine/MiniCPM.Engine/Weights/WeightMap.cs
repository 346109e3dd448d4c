using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// The weights of one checkpoint under their internal names, plus the file tensors that map to nothing the
/// engine uses (reported by `minicpm info`, never silently dropped).
/// </summary>
public sealed class WeightMap
{
    private readonly Dictionary<string, WeightSource> _byName = new(StringComparer.Ordinal);
    private readonly List<TensorInfo> _unmapped = [];
    private readonly List<(TensorInfo Tensor, string Reason)> _ignored = [];

    public IReadOnlyCollection<WeightSource> Weights => _byName.Values;
    public IReadOnlyList<TensorInfo> Unmapped => _unmapped;
    /// <summary>Tensors recognised but not used by this engine (e.g. MiniCPM-o's TTS), with why.</summary>
    public IReadOnlyList<(TensorInfo Tensor, string Reason)> Ignored => _ignored;

    public WeightSource? Find(string internalName) => _byName.GetValueOrDefault(internalName);

    public WeightSource Require(string internalName, string sourcePath) =>
        Find(internalName) ?? throw new ModelFormatException(sourcePath, $"required weight '{internalName}' is missing");

    internal void Add(WeightSource source, string sourcePath)
    {
        if (!_byName.TryAdd(source.InternalName, source))
            throw new ModelFormatException(sourcePath, $"two file tensors map to the engine weight '{source.InternalName}': '{_byName[source.InternalName].Tensor.Name}' and '{source.Tensor.Name}'", tensor: source.Tensor.Name);
    }

    internal void AddUnmapped(TensorInfo tensor) => _unmapped.Add(tensor);
    internal void AddIgnored(TensorInfo tensor, string reason) => _ignored.Add((tensor, reason));
}
