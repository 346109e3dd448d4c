namespace MiniCPM.Engine.Errors;

/// <summary>
/// Images were given to a model that has no vision tower (a text-only checkpoint or text GGUF without its mmproj),
/// or the vision tower / resampler weights are absent from the checkpoint.
/// </summary>
public sealed class NoVisionTowerException(string source, string detail)
    : MiniCpmException($"{source}: {detail}; images need MiniCPM-V's vision tower (an HF checkpoint with vpm.* and resampler.* weights, or a llama.cpp mmproj GGUF)")
{
    public string ModelPath { get; } = source;
}
