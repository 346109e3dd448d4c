namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Rotary position embedding in the NeoX / Hugging Face "rotate_half" layout: within each head, element i pairs with
/// element i + d/2 and both turn by the angle pos·inv_freq[i], inv_freq[i] = 1 / θ^(2i/d).
/// <para>
/// Rounding follows HF's Qwen2RotaryEmbedding in float32: the exponent 2i/d is a float32 division, θ^e and its
/// reciprocal are float32 (MathF.Pow, then 1f/…), the angle is the float32 product pos·inv_freq, and cos/sin are taken
/// of that float32 angle (MathF.Cos/Sin). So at large positions the angle carries float32 rounding exactly as in HF.
/// </para>
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _inverseFrequencies;

    public RotaryEmbedding(int headDim, float theta)
    {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "head dimension must be positive and even");
        if (!(theta > 0)) throw new ArgumentOutOfRangeException(nameof(theta), theta, "θ must be positive");
        HeadDim = headDim;
        Theta = theta;
        _inverseFrequencies = new float[headDim / 2];
        for (int i = 0; i < _inverseFrequencies.Length; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            _inverseFrequencies[i] = 1f / MathF.Pow(theta, exponent);
        }
    }

    public int HeadDim { get; }
    public float Theta { get; }
    public ReadOnlySpan<float> InverseFrequencies => _inverseFrequencies;

    /// <summary>cos and sin of pos·inv_freq[i] for i &lt; d/2 (the second half of HF's cat(freqs, freqs) repeats them).</summary>
    public void CosSin(int position, Span<float> cos, Span<float> sin)
    {
        int half = _inverseFrequencies.Length;
        if (cos.Length < half || sin.Length < half) throw new ArgumentException($"cos and sin need {half} values each");
        float pos = position;
        for (int i = 0; i < half; i++)
        {
            float angle = pos * _inverseFrequencies[i];
            cos[i] = MathF.Cos(angle);
            sin[i] = MathF.Sin(angle);
        }
    }

    /// <summary>Rotates every head of one token's [heads, head_dim] vector in place for <paramref name="position"/>.</summary>
    public void Apply(Span<float> x, int heads, int position)
    {
        int half = HeadDim / 2;
        Span<float> cos = half <= 512 ? stackalloc float[half] : new float[half];
        Span<float> sin = half <= 512 ? stackalloc float[half] : new float[half];
        CosSin(position, cos, sin);
        ApplyNeoX(x, heads, HeadDim, cos, sin);
    }

    /// <summary>
    /// Rotates <paramref name="tokens"/> consecutive [heads, head_dim] vectors, token t at <paramref name="positions"/>[t].
    /// </summary>
    public void ApplyRows(Span<float> x, int tokens, int heads, ReadOnlySpan<int> positions)
    {
        if (positions.Length < tokens) throw new ArgumentException($"{tokens} tokens need as many positions", nameof(positions));
        int width = heads * HeadDim;
        if (x.Length < (long)tokens * width) throw new ArgumentException($"{tokens}×{heads}×{HeadDim} values do not fit", nameof(x));
        for (int t = 0; t < tokens; t++)
            Apply(x.Slice(t * width, width), heads, positions[t]);
    }

    /// <summary>
    /// x1 = x[i], x2 = x[i + d/2] → (x1·cos − x2·sin, x2·cos + x1·sin), for each head: HF's
    /// q·cos + rotate_half(q)·sin with rotate_half(q) = cat(−q2, q1).
    /// </summary>
    public static void ApplyNeoX(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = headDim / 2;
        if (x.Length < (long)heads * headDim) throw new ArgumentException($"{heads}×{headDim} values do not fit", nameof(x));
        if (cos.Length < half || sin.Length < half) throw new ArgumentException($"cos and sin need {half} values each");
        for (int h = 0; h < heads; h++)
        {
            Span<float> head = x.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float x1 = head[i], x2 = head[i + half];
                head[i] = x1 * cos[i] - x2 * sin[i];
                head[i + half] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}
