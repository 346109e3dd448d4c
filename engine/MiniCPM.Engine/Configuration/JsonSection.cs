using System.Text.Json;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Configuration;

/// <summary>Typed, error-reporting access to one JSON object of a config file.</summary>
internal readonly struct JsonSection(JsonElement element, string source, string path)
{
    public JsonSection? Section(string key)
    {
        if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Object) throw Wrong(key, "an object", value);
        return new JsonSection(value, source, path + key + ".");
    }

    public string? String(string key)
    {
        if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Wrong(key, "a string", value);
    }

    /// <summary>The raw JSON text of a value of any kind (used where a key is a number in one file and a string in another).</summary>
    public string? Raw(string key) => TryGet(key, out var value) && value.ValueKind != JsonValueKind.Null ? value.GetRawText() : null;

    public int? Int(string key)
    {
        if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int i)) return i;
        // Some exporters write integral values as floats (e.g. 64.0).
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        throw Wrong(key, "a 32-bit integer", value);
    }

    public int RequiredInt(string key) => Int(key) ?? throw new ModelFormatException(source, $"config key '{path}{key}' is missing");

    public double? Double(string key)
    {
        if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) ? d : throw Wrong(key, "a number", value);
    }

    public bool? Bool(string key)
    {
        if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Wrong(key, "true or false", value),
        };
    }

    private bool TryGet(string key, out JsonElement value) => element.TryGetProperty(key, out value);

    private ModelFormatException Wrong(string key, string expected, JsonElement value) =>
        new(source, $"config key '{path}{key}' must be {expected}, found {value.ValueKind} {Truncate(value.GetRawText())}");

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
