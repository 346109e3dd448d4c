using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Safetensors;
using MiniCPM.Loaders.Tests.Safetensors;

namespace MiniCPM.Loaders.Tests.Common;

/// <summary>Reading a file into memory instead of mapping it changes where the bytes live, nothing else.</summary>
public sealed class FileResidencyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "minicpm-residency-" + Guid.NewGuid().ToString("N"));

    public FileResidencyTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [MemberData(nameof(SafetensorsGoldenTests.GoldenCaseNames), MemberType = typeof(SafetensorsGoldenTests))]
    public void SafetensorsInMemoryHoldsTheMappedBytes(string caseName)
    {
        string path = SafetensorsTestFiles.Golden(caseName, "model.safetensors");
        using var mapped = SafetensorsFile.Open(path);
        using var loaded = SafetensorsFile.Open(path, FileResidency.InMemory);
        Assert.Equal(Describe(mapped.Tensors), Describe(loaded.Tensors));
        foreach (var t in mapped.Tensors)
            Assert.True(mapped.GetData(t).AsSpan().SequenceEqual(loaded.GetData(loaded.Find(t.Name)!).AsSpan()), t.Name);
    }

    [Fact]
    public unsafe void GgufInMemoryHoldsTheMappedBytesAtAHugePageAlignedAddress()
    {
        string path = Path.Combine(_dir, "m.gguf");
        var values = Enumerable.Range(0, 3 * 64).Select(i => (float)Math.Sin(i)).ToArray();
        new GgufWriter()
            .AddMetadata("general.architecture", GgufValue.FromString("test"))
            .AddTensorFromFloats("a", TensorType.F32, [3, 64], values)
            .AddTensorFromFloats("b", TensorType.F16, [3, 64], values)
            .WriteTo(path);
        using var mapped = GgufFile.Open(path);
        using var loaded = GgufFile.Open(path, FileResidency.InMemory);
        Assert.Equal(mapped.Metadata, loaded.Metadata);
        foreach (var t in mapped.Tensors)
            Assert.True(mapped.GetData(t).AsSpan().SequenceEqual(loaded.GetData(loaded.Find(t.Name)!).AsSpan()), t.Name);
        var first = loaded.GetData(loaded.Tensors[0]);
        ulong fileStart = (ulong)first.Pointer - (ulong)loaded.Tensors[0].FileOffset;
        Assert.Equal(0UL, fileStart % (2UL << 20));
    }

    private static IEnumerable<string> Describe(IReadOnlyList<TensorInfo> tensors) =>
        tensors.Select(t => $"{t.Name} {t.Type} {t.ShapeText} @{t.FileOffset}+{t.ByteLength}");

    [Fact]
    public void TruncatedFileInMemoryIsStillAFormatError()
    {
        string path = Path.Combine(_dir, "cut.safetensors");
        var bytes = File.ReadAllBytes(SafetensorsTestFiles.Golden("llm", "model.safetensors"));
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path, FileResidency.InMemory));
    }
}
