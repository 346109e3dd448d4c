using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine;

/// <summary>The kinds of model sources the engine reads.</summary>
public enum CheckpointFormat
{
    Gguf,
    Safetensors,
    HfFolder,
}

/// <summary>Recognises a model path by its content (magic bytes), not only its name, and opens its tensors.</summary>
public static class CheckpointFiles
{
    public static CheckpointFormat Detect(string path)
    {
        if (Directory.Exists(path)) return CheckpointFormat.HfFolder;
        if (!File.Exists(path)) throw new ModelFormatException(path, "no such file or folder");
        Span<byte> head = stackalloc byte[4];
        int read;
        using (var stream = File.OpenRead(path)) read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (read == 4 && head.SequenceEqual("GGUF"u8)) return CheckpointFormat.Gguf;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return CheckpointFormat.Safetensors;
        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new ModelFormatException(path, "wrong magic: a .gguf file must start with 'GGUF'", offset: 0);
        throw new ModelFormatException(path, "not a GGUF file (no 'GGUF' magic) and not named *.safetensors");
    }

    public static ITensorFile OpenTensors(string path, CheckpointFormat format, FileResidency residency = FileResidency.Mapped) => format switch
    {
        CheckpointFormat.Gguf => GgufFile.Open(path, residency),
        CheckpointFormat.Safetensors => SafetensorsFile.Open(path, residency),
        CheckpointFormat.HfFolder => SafetensorsCheckpoint.OpenFolder(path, residency),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    /// <summary>The config.json of an HF folder, or the one beside a safetensors file; null when there is none.</summary>
    public static string? ConfigJsonFor(string path)
    {
        var folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        var config = Path.Combine(folder, "config.json");
        return File.Exists(config) ? config : null;
    }
}
