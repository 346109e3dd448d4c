using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine;

/// <summary>
/// An opened model checkpoint: its memory-mapped tensors, its typed configuration and its weights under the
/// engine's internal names. Opens a GGUF file, a safetensors file (with a config.json beside it) or an HF folder.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public string SourcePath { get; }
    public CheckpointFormat Format { get; }
    public ITensorFile Tensors { get; }
    public ModelConfig Config { get; }
    public WeightMap Weights { get; }

    private Checkpoint(string sourcePath, CheckpointFormat format, ITensorFile tensors, ModelConfig config, WeightMap weights)
    {
        SourcePath = sourcePath;
        Format = format;
        Tensors = tensors;
        Config = config;
        Weights = weights;
    }

    /// <summary>
    /// Opens <paramref name="path"/>; every problem is a <see cref="ModelFormatException"/>. The tensors stay in their
    /// file dtype, memory-mapped or (<see cref="FileResidency.InMemory"/>) read once into memory.
    /// </summary>
    public static Checkpoint Open(string path, FileResidency residency = FileResidency.Mapped)
    {
        var format = CheckpointFiles.Detect(path);
        var tensors = CheckpointFiles.OpenTensors(path, format, residency);
        try
        {
            var config = ReadConfig(path, tensors);
            return new Checkpoint(path, format, tensors, config, MapWeights(tensors, config));
        }
        catch
        {
            tensors.Dispose();
            throw;
        }
    }

    /// <summary>The configuration of opened tensors: GGUF metadata, or the config.json of the folder.</summary>
    public static ModelConfig ReadConfig(string path, ITensorFile tensors) => tensors is GgufFile gguf
        ? GgufConfigReader.Read(gguf)
        : HfConfigReader.Read(CheckpointFiles.ConfigJsonFor(path) ?? throw new ModelFormatException(path, "no config.json beside the safetensors data"));

    /// <summary>The file tensors under the engine's internal names.</summary>
    public static WeightMap MapWeights(ITensorFile tensors, ModelConfig config) =>
        tensors is GgufFile ? GgufWeightNames.Map(tensors, config) : HfWeightNames.Map(tensors, config.Quantization);

    public void Dispose() => Tensors.Dispose();
}
