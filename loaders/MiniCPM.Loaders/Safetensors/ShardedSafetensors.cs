namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// A checkpoint split over several safetensors files, read through Hugging Face's <c>model.safetensors.index.json</c>
/// (or, without an index, a plain set of files). Each shard is opened once and memory-mapped.
/// </summary>
/// <remarks>
/// Every name in <c>weight_map</c> must exist in the shard it points to. Tensors found in a shard but missing from
/// <c>weight_map</c> are included (transformers loads whole shard files, so it would see them too) and listed in
/// <see cref="UnindexedTensors"/> so tools can report the inconsistency. A name present in two shards is an error.
/// </remarks>
public sealed class ShardedSafetensors : ITensorFile
{
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, (SafetensorsFile Shard, TensorInfo Tensor)> _byName;

    public string SourcePath { get; }

    /// <summary>The shard files, ordered by their path relative to the folder.</summary>
    public IReadOnlyList<SafetensorsFile> Shards { get; }

    /// <summary>The index's <c>metadata.total_size</c>, when given (not checked against the shards).</summary>
    public long? TotalSize { get; }

    /// <summary>Names present in a shard but absent from <c>weight_map</c> (they are still part of <see cref="Tensors"/>).</summary>
    public IReadOnlyList<string> UnindexedTensors { get; }

    /// <summary>All tensors: shard by shard in <see cref="Shards"/> order, file order within a shard.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    private ShardedSafetensors(string sourcePath, IReadOnlyList<SafetensorsFile> shards, long? totalSize, ISet<string>? indexed)
    {
        SourcePath = sourcePath;
        Shards = shards;
        TotalSize = totalSize;

        _byName = new Dictionary<string, (SafetensorsFile, TensorInfo)>(StringComparer.Ordinal);
        var tensors = new List<TensorInfo>();
        var unindexed = new List<string>();
        foreach (var shard in shards)
        {
            foreach (var tensor in shard.Tensors)
            {
                if (_byName.TryGetValue(tensor.Name, out var first))
                    throw new ModelFormatException(shard.SourcePath,
                        $"tensor also present in shard '{Path.GetFileName(first.Shard.SourcePath)}'", tensor.Name, tensor.FileOffset);
                _byName.Add(tensor.Name, (shard, tensor));
                tensors.Add(tensor);
                if (indexed is not null && !indexed.Contains(tensor.Name)) unindexed.Add(tensor.Name);
            }
        }
        Tensors = tensors;
        UnindexedTensors = unindexed;
    }

    /// <summary>Opens a checkpoint from its index file; the shards are looked up next to it.</summary>
    public static ShardedSafetensors Open(string indexPath, FileResidency residency = FileResidency.Mapped)
    {
        var index = SafetensorsIndex.Read(indexPath);
        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;

        var shardNames = index.WeightMap.Select(e => e.Shard).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var shards = OpenAll(indexPath, folder, shardNames, index.WeightMap, residency);
        try
        {
            var byShardName = shardNames.Zip(shards).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
            foreach (var (tensor, shard) in index.WeightMap)
            {
                if (byShardName[shard].Find(tensor) is null)
                    throw new ModelFormatException(indexPath, $"weight_map places this tensor in '{shard}', which does not contain it", tensor);
            }
            var indexed = index.WeightMap.Select(e => e.Tensor).ToHashSet(StringComparer.Ordinal);
            return new ShardedSafetensors(indexPath, shards, index.TotalSize, indexed);
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
    }

    /// <summary>Opens several files as one set without an index; duplicate names across files are an error.</summary>
    internal static ShardedSafetensors OpenFiles(string folder, IReadOnlyList<string> relativePaths, FileResidency residency = FileResidency.Mapped)
    {
        var ordered = relativePaths.Order(StringComparer.Ordinal).ToArray();
        var shards = OpenAll(folder, folder, ordered, weightMap: null, residency);
        try
        {
            return new ShardedSafetensors(folder, shards, totalSize: null, indexed: null);
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
    }

    private static SafetensorsFile[] OpenAll(string source, string folder, IReadOnlyList<string> shardNames,
        IReadOnlyList<(string Tensor, string Shard)>? weightMap, FileResidency residency)
    {
        var opened = new List<SafetensorsFile>();
        try
        {
            foreach (string name in shardNames)
            {
                string path = Path.Combine(folder, name);
                if (!File.Exists(path))
                {
                    string? tensor = weightMap?.First(e => e.Shard == name).Tensor;
                    throw new ModelFormatException(source, $"shard '{name}' not found", tensor);
                }
                opened.Add(SafetensorsFile.Open(path, residency));
            }
            return opened.ToArray();
        }
        catch
        {
            foreach (var shard in opened) shard.Dispose();
            throw;
        }
    }

    public TensorInfo? Find(string name) => _byName.TryGetValue(name, out var entry) ? entry.Tensor : null;

    public NativeBytes GetData(TensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_byName.TryGetValue(tensor.Name, out var entry) || !ReferenceEquals(entry.Tensor, tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {SourcePath}", nameof(tensor));
        return entry.Shard.GetData(tensor);
    }

    public void Dispose()
    {
        foreach (var shard in Shards) shard.Dispose();
    }
}
