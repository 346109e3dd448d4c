using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Golden;

/// <summary>A golden case folder is incomplete or inconsistent (missing file, tensor or manifest entry).</summary>
public sealed class GoldenCaseException(string path, string problem) : MiniCpmException($"{path}: {problem}")
{
    public string Path { get; } = path;
}
