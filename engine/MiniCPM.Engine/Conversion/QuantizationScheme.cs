using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// A quantization as llama-quantize names it: the llama.cpp file type (<c>llama_ftype</c>, written as
/// general.file_type), its base tensor type, and whether the per-tensor mix rules apply (<see cref="Pure"/> = false,
/// llama.cpp's default) or every quantizable matrix takes the base type (llama-quantize --pure).
/// </summary>
public sealed record QuantizationScheme(string Name, uint FileType, TensorType BaseType, bool Pure = false)
{
    private static readonly QuantizationScheme[] Known =
    [
        new("q8_0", 7, TensorType.Q8_0),
        new("q4_0", 2, TensorType.Q4_0),
        new("q4_1", 3, TensorType.Q4_1),
        new("q5_0", 8, TensorType.Q5_0),
        new("q5_1", 9, TensorType.Q5_1),
        new("q2_k", 10, TensorType.Q2_K),
        new("q3_k_s", 11, TensorType.Q3_K),
        new("q4_k_s", 14, TensorType.Q4_K),
        new("q4_k_m", 15, TensorType.Q4_K),
        new("q5_k_s", 16, TensorType.Q5_K),
        new("q5_k_m", 17, TensorType.Q5_K),
        new("q6_k", 18, TensorType.Q6_K),
    ];

    // The plain K names are llama.cpp's "small" mixes of that type (q6_k and q2_k have only one).
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q3_k"] = "q3_k_s",
        ["q4_k"] = "q4_k_s",
        ["q5_k"] = "q5_k_s",
    };

    /// <summary>Every accepted name, e.g. for a usage line.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q3_k_s", "q4_k", "q4_k_s", "q4_k_m", "q5_k", "q5_k_s", "q5_k_m", "q6_k"];

    /// <summary>The scheme called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static QuantizationScheme? Find(string name)
    {
        string canonical = Aliases.GetValueOrDefault(name, name);
        return Known.FirstOrDefault(s => string.Equals(s.Name, canonical, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The scheme called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No scheme has that name; the message lists the accepted ones.</exception>
    public static QuantizationScheme Parse(string name) => Find(name)
        ?? throw new ArgumentException($"unknown quantization type '{name}' (known: {string.Join(", ", Names)})", nameof(name));
}
