namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// Value equality: same type, same element type and the same contents. Floats compare by their bits, so a value
/// read back from a file equals the value written even for NaN and -0.0.
/// </summary>
public sealed partial class GgufValue : IEquatable<GgufValue>
{
    public bool Equals(GgufValue? other)
    {
        if (ReferenceEquals(this, other)) return true;
        if (other is null || Type != other.Type || ElementType != other.ElementType) return false;
        return Type switch
        {
            GgufValueType.String => string.Equals((string)_payload!, (string)other._payload!, StringComparison.Ordinal),
            GgufValueType.Array => ArraysEqual(other),
            _ => _bits == other._bits,
        };
    }

    private bool ArraysEqual(GgufValue other) => ElementType switch
    {
        GgufValueType.String => ((string[])_payload!).AsSpan().SequenceEqual((string[])other._payload!),
        GgufValueType.Array => ((GgufValue[])_payload!).AsSpan().SequenceEqual((GgufValue[])other._payload!),
        _ => FixedArrayBytes().SequenceEqual(other.FixedArrayBytes()),
    };

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.Add(ElementType);
        switch (Type)
        {
            case GgufValueType.String:
                hash.Add((string)_payload!, StringComparer.Ordinal);
                break;
            case GgufValueType.Array when ElementType is GgufValueType.String or GgufValueType.Array:
                var elements = (Array)_payload!;
                hash.Add(elements.Length);
                // A few leading elements are enough to spread values; equal arrays still hash equally.
                for (int i = 0; i < Math.Min(elements.Length, 8); i++) hash.Add(elements.GetValue(i));
                break;
            case GgufValueType.Array:
                hash.AddBytes(FixedArrayBytes());
                break;
            default:
                hash.Add(_bits);
                break;
        }
        return hash.ToHashCode();
    }

    public static bool operator ==(GgufValue? left, GgufValue? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(GgufValue? left, GgufValue? right) => !(left == right);
}
