namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>The code books bitsandbytes writes into NF4 checkpoints (its <c>quant_map</c> and <c>nested_quant_map</c>).</summary>
public static class Nf4CodeBooks
{
    /// <summary>
    /// NF4: 16 quantiles of a standard normal scaled to [−1, 1] with an exact zero (bitsandbytes'
    /// <c>get_4bit_type("nf4")</c>, as float32). Readers use the table stored in the file; writers store this one.
    /// </summary>
    public static ReadOnlySpan<float> Nf4 =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>
    /// bitsandbytes' signed 8-bit "dynamic" map (<c>create_dynamic_map(signed=True, max_exponent_bits=7,
    /// total_bits=8)</c>), used for double-quantized block scales: for exponent step i = 0..6, the 2^i midpoints of
    /// 2^i + 1 evenly spaced points in [0.1, 1], times 10^(i − 6), with both signs; plus 0 and 1; sorted (256 values).
    /// Computed here in double and rounded once to float32, so an entry may differ from bitsandbytes' float32
    /// arithmetic in the last bit; readers use the map stored in the file, so a file stays self-consistent.
    /// </summary>
    public static float[] Dynamic()
    {
        var values = new List<double>(256);
        const int maxExponentBits = 7;
        for (int i = 0; i < maxExponentBits; i++)
        {
            int points = (1 << i) + 1;
            double scale = Math.Pow(10, -(maxExponentBits - 1) + i);
            for (int k = 0; k + 1 < points; k++)
            {
                double low = 0.1 + 0.9 * k / (points - 1), high = 0.1 + 0.9 * (k + 1) / (points - 1);
                double mean = (low + high) / 2;
                values.Add(scale * mean);
                values.Add(-scale * mean);
            }
        }
        values.Add(0);
        values.Add(1);
        values.Sort();
        return values.Select(v => (float)v).ToArray();
    }
}
