using System.Text.Json;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;
using static MiniCPM.Loaders.Tests.Safetensors.SafetensorsTestFiles;

namespace MiniCPM.Loaders.Tests.Safetensors;

public class ShardedSafetensorsTests
{
    /// <summary>A writer that re-emits every tensor of an open file, streaming the mapped bytes.</summary>
    private static SafetensorsWriter CopyOf(SafetensorsFile source)
    {
        var writer = new SafetensorsWriter();
        foreach (var (key, value) in source.Metadata) writer.AddMetadata(key, value);
        foreach (var tensor in source.Tensors)
        {
            var data = source.GetData(tensor);
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, stream => stream.Write(data.AsSpan()));
        }
        return writer;
    }

    [Fact]
    public void Golden_llm_split_in_two_shards_equals_the_single_file()
    {
        using var single = SafetensorsFile.Open(Golden("llm", "model.safetensors"));
        using var folder = new TempFolder();
        var shardNames = SafetensorsShardWriter.Write(CopyOf(single), folder.Path, shardCount: 2);
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], shardNames);

        using var opened = SafetensorsCheckpoint.OpenFolder(folder.Path);
        var sharded = Assert.IsType<ShardedSafetensors>(opened);
        Assert.Equal(2, sharded.Shards.Count);
        Assert.All(sharded.Shards, s => Assert.NotEmpty(s.Tensors));
        Assert.All(sharded.Shards, s => Assert.Equal("pt", s.Metadata["format"]));
        Assert.Empty(sharded.UnindexedTensors);
        Assert.Equal(single.Tensors.Sum(t => t.ByteLength), sharded.TotalSize);

        Assert.Equal(single.Tensors.Count, sharded.Tensors.Count);
        foreach (var expected in single.Tensors)
        {
            var actual = sharded.Find(expected.Name);
            Assert.NotNull(actual);
            Assert.Equal(expected.Type, actual.Type);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(single.GetData(expected).AsSpan().SequenceEqual(sharded.GetData(actual).AsSpan()), expected.Name);
        }

        // The index, read as plain JSON, maps each name to the shard that holds it.
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder.Path, ShardedSafetensors.IndexFileName)));
        var weightMap = index.RootElement.GetProperty("weight_map").EnumerateObject().ToArray();
        Assert.Equal(single.Tensors.Count, weightMap.Length);
        foreach (var entry in weightMap)
        {
            var shard = sharded.Shards.Single(s => Path.GetFileName(s.SourcePath) == entry.Value.GetString());
            Assert.NotNull(shard.Find(entry.Name));
        }
    }

    [Fact]
    public void Shard_split_balances_bytes_and_gives_every_shard_a_tensor()
    {
        var writer = new SafetensorsWriter();
        writer.AddTensor("big", TensorType.U8, [1000], new byte[1000]);
        writer.AddTensor("s1", TensorType.U8, [1], new byte[1]);
        writer.AddTensor("s2", TensorType.U8, [1], new byte[1]);
        using var folder = new TempFolder();
        SafetensorsShardWriter.Write(writer, folder.Path, 3);
        using var sharded = ShardedSafetensors.Open(Path.Combine(folder.Path, ShardedSafetensors.IndexFileName));
        Assert.Equal([["big"], ["s1"], ["s2"]], sharded.Shards.Select(s => s.Tensors.Select(t => t.Name).ToArray()));
        Assert.Throws<ArgumentOutOfRangeException>(() => SafetensorsShardWriter.Write(writer, folder.Path, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SafetensorsShardWriter.Write(writer, folder.Path, 0));
    }

    private static void WriteFile(string path, params (string Name, byte Fill)[] tensors)
    {
        var writer = new SafetensorsWriter();
        foreach (var (name, fill) in tensors) writer.AddTensor(name, TensorType.U8, [4], Enumerable.Repeat(fill, 4).ToArray());
        writer.Write(path);
    }

    private static void WriteIndex(string folder, string weightMapJson) =>
        File.WriteAllText(Path.Combine(folder, ShardedSafetensors.IndexFileName),
            "{\"metadata\":{\"total_size\":8},\"weight_map\":" + weightMapJson + "}");

    private static ModelFormatException BadFolder(string folder, params string[] fragments)
    {
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.OpenFolder(folder).Dispose());
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    [Fact]
    public void Index_errors_name_the_tensor_and_shard()
    {
        using var folder = new TempFolder();
        WriteFile(folder.File("a.safetensors"), ("x", 1));

        WriteIndex(folder.Path, "{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}");
        BadFolder(folder.Path, "tensor 'y'", "shard 'b.safetensors' not found");

        WriteIndex(folder.Path, "{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\"}");
        BadFolder(folder.Path, "tensor 'y'", "does not contain it");

        foreach (string escaping in new[] { "../a.safetensors", "/tmp/a.safetensors", "sub/../../a.safetensors", "..\\\\a.safetensors", "C:a.safetensors", "" })
        {
            WriteIndex(folder.Path, $"{{\"x\":\"{escaping}\"}}");
            BadFolder(folder.Path, "tensor 'x'", "not a relative path inside the checkpoint folder");
        }

        WriteIndex(folder.Path, "{\"x\":1}");
        BadFolder(folder.Path, "tensor 'x'", "shard file name");
        WriteIndex(folder.Path, "[]");
        BadFolder(folder.Path, "weight_map");
        File.WriteAllText(Path.Combine(folder.Path, ShardedSafetensors.IndexFileName), "[1]");
        BadFolder(folder.Path, "must be a JSON object");
        File.WriteAllText(Path.Combine(folder.Path, ShardedSafetensors.IndexFileName), "{\"weight_map\":");
        BadFolder(folder.Path, "not valid JSON");
    }

    [Fact]
    public void Broken_shard_is_reported_with_its_own_file_name()
    {
        using var folder = new TempFolder();
        WriteFile(folder.File("a.safetensors"), ("x", 1));
        File.WriteAllBytes(folder.File("b.safetensors"), [1, 2, 3]);
        WriteIndex(folder.Path, "{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}");
        var e = BadFolder(folder.Path, "too short");
        Assert.EndsWith("b.safetensors", e.FilePath);
    }

    [Fact]
    public void Tensors_missing_from_the_index_are_included_and_reported()
    {
        using var folder = new TempFolder();
        WriteFile(folder.File("a.safetensors"), ("x", 1), ("extra", 9));
        WriteFile(folder.File("sub_b.safetensors"), ("y", 2));
        WriteIndex(folder.Path, "{\"y\":\"sub_b.safetensors\",\"x\":\"a.safetensors\"}");

        using var sharded = (ShardedSafetensors)SafetensorsCheckpoint.OpenFolder(folder.Path);
        Assert.Equal(["extra"], sharded.UnindexedTensors);
        Assert.Equal(["x", "extra", "y"], sharded.Tensors.Select(t => t.Name)); // shards by name, file order inside
        Assert.Equal(8, sharded.TotalSize);
        Assert.Equal([9, 9, 9, 9], sharded.GetData(sharded.Find("extra")!).AsSpan().ToArray());
        Assert.Equal([2, 2, 2, 2], sharded.GetData(sharded.Find("y")!).AsSpan().ToArray());
    }

    [Fact]
    public void Same_tensor_in_two_shards_is_an_error()
    {
        using var folder = new TempFolder();
        WriteFile(folder.File("a.safetensors"), ("x", 1));
        WriteFile(folder.File("b.safetensors"), ("x", 2), ("y", 3));
        WriteIndex(folder.Path, "{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}");
        BadFolder(folder.Path, "tensor 'x'", "also present in shard 'a.safetensors'");
    }

    [Fact]
    public void Folder_without_index()
    {
        using var folder = new TempFolder();
        BadFolder(folder.Path, "no model.safetensors.index.json and no *.safetensors");
        BadFolder(folder.File("nope"), "folder not found");

        WriteFile(folder.File("one.safetensors"), ("x", 1));
        using (var single = SafetensorsCheckpoint.OpenFolder(folder.Path))
            Assert.IsType<SafetensorsFile>(single);

        WriteFile(folder.File("two.safetensors"), ("y", 2));
        using (var both = SafetensorsCheckpoint.OpenFolder(folder.Path))
        {
            Assert.Equal(["x", "y"], both.Tensors.Select(t => t.Name));
            Assert.Equal([2, 2, 2, 2], both.GetData(both.Find("y")!).AsSpan().ToArray());
        }

        WriteFile(folder.File("three.safetensors"), ("x", 3));
        BadFolder(folder.Path, "tensor 'x'", "also present");
    }

    [Fact]
    public void Folder_with_model_safetensors_opens_it_alone()
    {
        using var folder = new TempFolder();
        WriteFile(folder.File("model.safetensors"), ("x", 1));
        WriteFile(folder.File("expected.safetensors"), ("y", 2));
        using var opened = SafetensorsCheckpoint.OpenFolder(folder.Path);
        Assert.Equal(["x"], opened.Tensors.Select(t => t.Name));
    }
}
