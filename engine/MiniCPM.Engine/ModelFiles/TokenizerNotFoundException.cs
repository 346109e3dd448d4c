using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.ModelFiles;

/// <summary>A model path has no tokenizer where one is looked for (see <see cref="ModelTokenizer"/>).</summary>
public sealed class TokenizerNotFoundException(string modelPath, string message)
    : MiniCpmException($"{modelPath}: {message}")
{
    /// <summary>The model path the tokenizer was looked for.</summary>
    public string ModelPath { get; } = modelPath;
}
