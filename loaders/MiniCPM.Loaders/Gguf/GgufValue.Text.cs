using System.Globalization;
using System.Text;

namespace MiniCPM.Loaders.Gguf;

/// <summary>Short one-line text for listings (<c>minicpm info</c>): type and value; arrays summarised.</summary>
public sealed partial class GgufValue
{
    private const int MaxStringChars = 60;
    private const int ArrayPreviewElements = 4;

    /// <summary>E.g. <c>u32 28</c>, <c>string "qwen2"</c>, <c>array&lt;string&gt;[151666] { "!", "\"", "#", "$", … }</c>.</summary>
    public override string ToString()
    {
        if (!IsArray) return $"{Type.ShortName()} {ScalarText()}";

        var elements = ArrayPayload;
        var text = new StringBuilder();
        text.Append($"array<{ElementType!.Value.ShortName()}>[{elements.Length}]");
        if (elements.Length == 0) return text.ToString();
        text.Append(" { ");
        int shown = Math.Min(elements.Length, ArrayPreviewElements);
        for (int i = 0; i < shown; i++)
        {
            if (i > 0) text.Append(", ");
            text.Append(ElementText(elements, i));
        }
        text.Append(elements.Length > shown ? ", … }" : " }");
        return text.ToString();
    }

    private string ScalarText() => Type switch
    {
        GgufValueType.String => Quote((string)_payload!),
        GgufValueType.Bool => _bits != 0 ? "true" : "false",
        // Each float at its own precision: an f32 1e-6 prints as 1E-06, not as its widened double.
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.UInt64 => _bits.ToString(CultureInfo.InvariantCulture),
        _ => ((long)_bits).ToString(CultureInfo.InvariantCulture),
    };

    private static string ElementText(Array elements, int i) => elements switch
    {
        string[] s => Quote(s[i]),
        GgufValue[] v => v[i].IsArray ? $"array<{v[i].ElementType!.Value.ShortName()}>[{v[i].ArrayLength}]" : v[i].ToString(),
        float[] f => f[i].ToString("R", CultureInfo.InvariantCulture),
        double[] d => d[i].ToString("R", CultureInfo.InvariantCulture),
        bool[] b => b[i] ? "true" : "false",
        _ => Convert.ToString(elements.GetValue(i), CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Quotes a string for display: control characters escaped, long strings cut with an ellipsis.</summary>
    private static string Quote(string s)
    {
        var text = new StringBuilder("\"");
        foreach (var c in s.Length > MaxStringChars ? s[..MaxStringChars] : s)
        {
            text.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        text.Append(s.Length > MaxStringChars ? "…\"" : "\"");
        return text.ToString();
    }
}
