namespace MiniCPM.Loaders;

/// <summary>
/// A model file (or folder) is malformed, truncated, hostile or of an unsupported kind. The message names the file
/// and, where known, the tensor or key and the byte offset.
/// </summary>
public sealed class ModelFormatException : Exception
{
    public string FilePath { get; }
    public string? Tensor { get; }
    public long? Offset { get; }

    public ModelFormatException(string filePath, string problem, string? tensor = null, long? offset = null, Exception? inner = null)
        : base(Compose(filePath, problem, tensor, offset), inner)
    {
        FilePath = filePath;
        Tensor = tensor;
        Offset = offset;
    }

    private static string Compose(string filePath, string problem, string? tensor, long? offset)
    {
        var where = Path.GetFileName(filePath);
        if (tensor is not null) where += $", tensor '{tensor}'";
        if (offset is not null) where += $", offset {offset}";
        return $"{where}: {problem}";
    }
}
