using System.Text.Json;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// Writes the tensors of a <see cref="SafetensorsWriter"/> as a Hugging Face sharded checkpoint:
/// <c>model-0000k-of-0000K.safetensors</c> files plus <c>model.safetensors.index.json</c>.
/// </summary>
public static class SafetensorsShardWriter
{
    /// <summary>
    /// Splits the tensors, in insertion order, into <paramref name="shardCount"/> contiguous groups of about equal byte
    /// size (each with at least one tensor), writes each group as a shard carrying the writer's metadata, then the
    /// index. Returns the shard file names.
    /// </summary>
    public static IReadOnlyList<string> Write(SafetensorsWriter tensors, string folder, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var entries = tensors.Entries;
        int maxShards = Math.Max(1, entries.Count);
        if (shardCount < 1 || shardCount > maxShards)
            throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount, $"must be between 1 and {maxShards} (one tensor per shard at least)");

        Directory.CreateDirectory(folder);
        var groups = Split(entries, shardCount);
        var names = new string[shardCount];
        var weightMap = new List<(string Tensor, string Shard)>();
        for (int k = 0; k < shardCount; k++)
        {
            names[k] = $"model-{k + 1:D5}-of-{shardCount:D5}.safetensors";
            SafetensorsWriter.WriteFile(Path.Combine(folder, names[k]), tensors.Metadata, groups[k]);
            weightMap.AddRange(groups[k].Select(e => (e.Name, names[k])));
        }
        WriteIndex(Path.Combine(folder, ShardedSafetensors.IndexFileName), entries.Sum(e => e.ByteLength), weightMap);
        return names;
    }

    private static List<SafetensorsWriter.Entry>[] Split(IReadOnlyList<SafetensorsWriter.Entry> entries, int shardCount)
    {
        var groups = Enumerable.Range(0, shardCount).Select(_ => new List<SafetensorsWriter.Entry>()).ToArray();
        Int128 total = 0;
        foreach (var entry in entries) total += entry.ByteLength;
        Int128 cumulative = 0;
        int shard = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            groups[shard].Add(entries[i]);
            cumulative += entries[i].ByteLength;
            int remainingEntries = entries.Count - i - 1;
            int remainingShards = shardCount - 1 - shard;
            // Move on when this shard has its share of the bytes, or when each later shard needs one of the remaining tensors.
            if (remainingShards > 0 && (remainingEntries == remainingShards || cumulative * shardCount >= total * (shard + 1)))
                shard++;
        }
        return groups;
    }

    private static void WriteIndex(string path, long totalSize, IReadOnlyList<(string Tensor, string Shard)> weightMap)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("metadata");
        json.WriteNumber("total_size", totalSize);
        json.WriteEndObject();
        json.WriteStartObject("weight_map");
        foreach (var (tensor, shard) in weightMap) json.WriteString(tensor, shard);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
