namespace MiniCPM.Engine.Generation;

/// <summary>Hugging Face's <c>TemperatureLogitsWarper</c>: scores / temperature (float32, as torch computes it).</summary>
internal static class TemperatureScaling
{
    public static void Apply(Span<float> scores, float temperature)
    {
        if (temperature == 1f) return;
        for (var i = 0; i < scores.Length; i++) scores[i] /= temperature;
    }
}
