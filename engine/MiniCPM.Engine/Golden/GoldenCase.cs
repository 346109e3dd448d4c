using System.Runtime.InteropServices;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Golden;

/// <summary>An opened golden case folder: its manifest and its expected.safetensors (inputs and reference outputs).</summary>
public sealed class GoldenCase : IDisposable
{
    private readonly SafetensorsFile _expected;

    private GoldenCase(string directory, GoldenManifest manifest, SafetensorsFile expected)
    {
        Directory = directory;
        Manifest = manifest;
        _expected = expected;
    }

    public string Directory { get; }
    public GoldenManifest Manifest { get; }
    public string WeightsPath => Path.Combine(Directory, Manifest.WeightsFile);

    public static GoldenCase Open(string directory)
    {
        var manifestPath = Path.Combine(directory, "manifest.json");
        if (!File.Exists(manifestPath)) throw new GoldenCaseException(directory, "no manifest.json in the case folder");
        var manifest = GoldenManifest.Read(manifestPath);
        var expectedPath = Path.Combine(directory, manifest.ExpectedFile);
        if (!File.Exists(expectedPath)) throw new GoldenCaseException(directory, $"expected file '{manifest.ExpectedFile}' is missing");
        return new GoldenCase(directory, manifest, SafetensorsFile.Open(expectedPath));
    }

    public bool Has(string name) => _expected.Find(name) is not null;

    /// <summary>An F32 tensor of expected.safetensors, flattened.</summary>
    public float[] ReadFloats(string name) => MemoryMarshal.Cast<byte, float>(Bytes(name, TensorType.F32)).ToArray();

    /// <summary>An I32 tensor of expected.safetensors, flattened.</summary>
    public int[] ReadInts(string name) => MemoryMarshal.Cast<byte, int>(Bytes(name, TensorType.I32)).ToArray();

    public long[] Shape(string name) => (_expected.Find(name) ?? throw Missing(name)).Shape;

    private ReadOnlySpan<byte> Bytes(string name, TensorType type)
    {
        var tensor = _expected.Find(name) ?? throw Missing(name);
        if (tensor.Type != type) throw new GoldenCaseException(Directory, $"tensor '{name}' is {tensor.Type}, {type} expected");
        return _expected.GetData(tensor).AsSpan();
    }

    private GoldenCaseException Missing(string name) => new(Directory, $"tensor '{name}' is not in {Manifest.ExpectedFile}");

    public void Dispose() => _expected.Dispose();
}
