using System.Text.Json;

namespace MiniCPM.Engine.Golden;

/// <summary>One tensor listed in a case's manifest.json.</summary>
public sealed record GoldenTensorSpec(string Name, long[] Shape, string DType, GoldenTolerance Tolerance, string? Meaning);

/// <summary>
/// A golden case folder's manifest.json: the case type, the files, and every tensor of expected.safetensors with
/// its shape, dtype and tolerance (tensor order as in the manifest).
/// </summary>
public sealed record GoldenManifest(
    string CaseType, string WeightsFile, string ConfigFile, string ExpectedFile, IReadOnlyList<GoldenTensorSpec> Tensors)
{
    public GoldenTensorSpec? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);

    public static GoldenManifest Read(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        string caseType = root.TryGetProperty("case", out var c) && c.ValueKind == JsonValueKind.String
            ? c.GetString()!
            : throw new GoldenCaseException(path, "manifest has no \"case\" string");
        var tensors = new List<GoldenTensorSpec>();
        if (root.TryGetProperty("tensors", out var list) && list.ValueKind == JsonValueKind.Object)
            foreach (var tensor in list.EnumerateObject())
                tensors.Add(ReadTensor(path, tensor.Name, tensor.Value));
        return new GoldenManifest(
            caseType,
            String(root, "weights_file") ?? "model.safetensors",
            String(root, "config_file") ?? "config.json",
            String(root, "expected_file") ?? "expected.safetensors",
            tensors);
    }

    private static GoldenTensorSpec ReadTensor(string path, string name, JsonElement spec)
    {
        long[] shape = spec.TryGetProperty("shape", out var s) && s.ValueKind == JsonValueKind.Array
            ? s.EnumerateArray().Select(d => d.GetInt64()).ToArray()
            : throw new GoldenCaseException(path, $"tensor '{name}' has no shape");
        return new GoldenTensorSpec(name, shape, String(spec, "dtype") ?? "F32", ReadTolerance(spec), String(spec, "meaning"));
    }

    private static GoldenTolerance ReadTolerance(JsonElement spec)
    {
        if (!spec.TryGetProperty("tolerance", out var t) || t.ValueKind != JsonValueKind.Object) return GoldenTolerance.Default;
        if (t.TryGetProperty("exact", out var exact) && exact.ValueKind == JsonValueKind.True) return GoldenTolerance.ExactMatch;
        double atol = t.TryGetProperty("atol", out var a) ? a.GetDouble() : GoldenTolerance.Default.Atol;
        double rtol = t.TryGetProperty("rtol", out var r) ? r.GetDouble() : GoldenTolerance.Default.Rtol;
        return new GoldenTolerance(false, atol, rtol);
    }

    private static string? String(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
