namespace MiniCPM.Loaders.Safetensors;

/// <summary>Opens the safetensors weights of a model folder, whichever of the usual layouts it has.</summary>
public static class SafetensorsCheckpoint
{
    /// <summary>
    /// A folder with <c>model.safetensors.index.json</c> opens as a sharded checkpoint; one with
    /// <c>model.safetensors</c> (HF's unsharded name) opens that file alone, whatever else lies beside it; otherwise its
    /// <c>*.safetensors</c> files (top level only) are opened: one file as itself, several as one set whose tensor names
    /// must not repeat. A folder without any is a <see cref="ModelFormatException"/>.
    /// </summary>
    public static ITensorFile OpenFolder(string folder, FileResidency residency = FileResidency.Mapped)
    {
        if (!Directory.Exists(folder)) throw new ModelFormatException(folder, "folder not found");

        string index = Path.Combine(folder, ShardedSafetensors.IndexFileName);
        if (File.Exists(index)) return ShardedSafetensors.Open(index, residency);
        string single = Path.Combine(folder, "model.safetensors");
        if (File.Exists(single)) return SafetensorsFile.Open(single, residency);

        var files = Directory.GetFiles(folder, "*.safetensors", SearchOption.TopDirectoryOnly)
            .Select(Path.GetFileName)
            .Where(name => name!.EndsWith(".safetensors", StringComparison.Ordinal)) // the pattern also matches longer extensions on Windows
            .Select(name => name!)
            .ToArray();
        return files.Length switch
        {
            0 => throw new ModelFormatException(folder, $"no {ShardedSafetensors.IndexFileName} and no *.safetensors file in the folder"),
            1 => SafetensorsFile.Open(Path.Combine(folder, files[0]), residency),
            _ => ShardedSafetensors.OpenFiles(folder, files, residency),
        };
    }
}
