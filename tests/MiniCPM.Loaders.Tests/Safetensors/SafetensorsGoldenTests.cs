using System.Buffers.Binary;
using System.Text.Json;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;
using static MiniCPM.Loaders.Tests.Safetensors.SafetensorsTestFiles;

namespace MiniCPM.Loaders.Tests.Safetensors;

/// <summary>
/// Opens every golden checkpoint and expected-output file and compares it with the case's manifest.json, which the
/// Python generator wrote independently of the safetensors bytes.
/// </summary>
public class SafetensorsGoldenTests
{
    public static TheoryData<string, string, string> Files()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var c in GoldenCases)
        {
            data.Add(c, "model.safetensors", "weights");
            data.Add(c, "expected.safetensors", "tensors");
        }
        return data;
    }

    // Independent of the reader's own dtype table.
    private static (TensorType Type, int Size) ManifestDtype(string dtype) => dtype switch
    {
        "BF16" => (TensorType.BF16, 2),
        "F32" => (TensorType.F32, 4),
        "I32" => (TensorType.I32, 4),
        _ => throw new InvalidOperationException($"manifest dtype {dtype} not expected in the golden cases"),
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_tensor_matches_the_manifest(string caseName, string file, string manifestSection)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Golden(caseName, "manifest.json")));
        var expected = manifest.RootElement.GetProperty(manifestSection).EnumerateObject().ToArray();

        using var st = SafetensorsFile.Open(Golden(caseName, file));
        Assert.Equal(expected.Length, st.Tensors.Count);
        Assert.Equal("pt", st.Metadata["format"]);
        Assert.Equal(0, st.DataStart % 8);
        Assert.Equal(8 + st.HeaderLength, st.DataStart);

        foreach (var entry in expected)
        {
            var tensor = st.Find(entry.Name);
            Assert.True(tensor is not null, $"{entry.Name} missing from {file}");
            var (type, size) = ManifestDtype(entry.Value.GetProperty("dtype").GetString()!);
            long[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            Assert.Equal(type, tensor.Type);
            Assert.Equal(shape, tensor.Shape);
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b) * size, tensor.ByteLength);
            Assert.Equal(tensor.ByteLength, st.GetData(tensor).Length);
        }

        // File order: contiguous ranges that tile the data buffer up to the end of the file.
        long next = st.DataStart;
        foreach (var t in st.Tensors)
        {
            Assert.Equal(next, t.FileOffset);
            next += t.ByteLength;
        }
        Assert.Equal(new FileInfo(Golden(caseName, file)).Length, next);
    }

    /// <summary>
    /// The manifest records each expected tensor's max |value|; recomputing it from the bytes shows the reader hands
    /// out the right byte range of every tensor (a shifted or swapped range would give another maximum).
    /// </summary>
    [Theory]
    [MemberData(nameof(GoldenCaseNames))]
    public void Expected_tensor_values_match_the_manifest_max_abs(string caseName)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Golden(caseName, "manifest.json")));
        using var st = SafetensorsFile.Open(Golden(caseName, "expected.safetensors"));
        foreach (var entry in manifest.RootElement.GetProperty("tensors").EnumerateObject())
        {
            double manifestMax = entry.Value.GetProperty("max_abs").GetDouble();
            var tensor = st.Find(entry.Name)!;
            var bytes = st.GetData(tensor).AsSpan();
            double max = 0;
            for (int i = 0; i < bytes.Length; i += 4)
            {
                double v = tensor.Type == TensorType.F32
                    ? BinaryPrimitives.ReadSingleLittleEndian(bytes[i..])
                    : BinaryPrimitives.ReadInt32LittleEndian(bytes[i..]);
                max = Math.Max(max, Math.Abs(v));
            }
            Assert.True(Math.Abs(max - manifestMax) <= 1e-6 * Math.Max(1, manifestMax),
                $"{caseName}/{entry.Name}: max |x| {max} from the file, manifest says {manifestMax}");
        }
    }

    public static TheoryData<string> GoldenCaseNames() => new(GoldenCases);
}
