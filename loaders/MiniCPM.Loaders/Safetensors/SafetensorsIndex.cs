using System.Text.Json;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// The Hugging Face shard index <c>model.safetensors.index.json</c>:
/// <c>{"metadata": {"total_size": bytes}, "weight_map": {tensor name: shard file}}</c>.
/// Shard names are checked to be relative paths that stay inside the index's folder.
/// </summary>
internal sealed class SafetensorsIndex
{
    private const long MaxIndexBytes = 100_000_000;

    /// <summary><c>metadata.total_size</c> when present. Informational: real checkpoints do not always agree with it.</summary>
    public long? TotalSize { get; private init; }

    /// <summary>(tensor name, shard path relative to the folder), in the order of the file.</summary>
    public IReadOnlyList<(string Tensor, string Shard)> WeightMap { get; private init; } = [];

    public static SafetensorsIndex Read(string indexPath)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(indexPath);
            if (!info.Exists) throw new ModelFormatException(indexPath, "index file not found");
            if (info.Length > MaxIndexBytes) throw new ModelFormatException(indexPath, $"index is {info.Length} bytes, over the {MaxIndexBytes}-byte limit");
            bytes = File.ReadAllBytes(indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(indexPath, $"cannot read the index: {e.Message}", inner: e);
        }

        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 8 });
            return FromJson(indexPath, document.RootElement);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(indexPath, $"index is not valid JSON: {e.Message}", inner: e);
        }
    }

    private static SafetensorsIndex FromJson(string indexPath, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(indexPath, "index must be a JSON object");

        long? totalSize = null;
        if (root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object &&
            metadata.TryGetProperty("total_size", out var total))
        {
            if (total.ValueKind != JsonValueKind.Number || !total.TryGetInt64(out long t) || t < 0)
                throw new ModelFormatException(indexPath, "metadata.total_size must be a non-negative integer");
            totalSize = t;
        }

        if (!root.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(indexPath, "index has no 'weight_map' object");

        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var entries = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in weightMap.EnumerateObject())
        {
            if (!seen.Add(property.Name)) throw new ModelFormatException(indexPath, "tensor listed twice in weight_map", property.Name);
            if (property.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(indexPath, "weight_map value must be a shard file name", property.Name);
            string shard = property.Value.GetString()!;
            CheckShardPath(indexPath, folder, property.Name, shard);
            entries.Add((property.Name, shard));
        }
        return new SafetensorsIndex { TotalSize = totalSize, WeightMap = entries };
    }

    /// <summary>
    /// A shard must be a plain relative path below the index folder: no root, no drive, no '..' segment, and its full
    /// path must resolve inside the folder. Both '/' and '\' count as separators so the check does not depend on the OS.
    /// </summary>
    private static void CheckShardPath(string indexPath, string folder, string tensor, string shard)
    {
        bool escapes = shard.Length == 0
            || Path.IsPathRooted(shard)
            || shard[0] is '/' or '\\'
            || shard.Contains(':')
            || shard.Contains('\0')
            || shard.Split('/', '\\').Any(segment => segment == "..");
        if (!escapes)
        {
            string full = Path.GetFullPath(Path.Combine(folder, shard));
            string root = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
            escapes = !full.StartsWith(root, StringComparison.Ordinal);
        }
        if (escapes)
            throw new ModelFormatException(indexPath, $"shard path '{shard}' is not a relative path inside the checkpoint folder", tensor);
    }
}
