using System.Buffers.Binary;
using System.Text;

namespace MiniCPM.Loaders.Tests.Safetensors;

/// <summary>Paths of the golden cases, temporary folders, and hand-built safetensors bytes.</summary>
internal static class SafetensorsTestFiles
{
    public static readonly string[] GoldenCases = ["llm", "vision", "resampler", "multimodal", "audio"];

    public static string Golden(string caseName, string file) => Path.Combine(AppContext.BaseDirectory, "golden", caseName, file);

    /// <summary>A file built byte by byte: u64 LE length (the header's own length unless overridden), header, data.</summary>
    public static byte[] Raw(string headerJson, ReadOnlySpan<byte> data, ulong? declaredLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file.AsSpan(8 + header.Length));
        return file;
    }

    public static byte[] Raw(string headerJson, int dataBytes, ulong? declaredLength = null) =>
        Raw(headerJson, new byte[dataBytes], declaredLength);
}

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("minicpm-st-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* best effort; a leftover temp folder is harmless */ }
    }
}
