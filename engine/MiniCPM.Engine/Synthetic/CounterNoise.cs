namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// Deterministic pseudo-random values addressed by (seed, tensor name, element index): each value is a hash of its
/// address, so any chunk of any tensor can be produced on its own, in any order, on any thread, with identical
/// results. Only integer hashing and correctly rounded IEEE arithmetic are used (no log/cos), so the values are
/// bit-identical on every machine and runtime.
/// </summary>
internal static class CounterNoise
{
    private const ulong Golden = 0x9E3779B97F4A7C15; // 2^64 / φ: spreads consecutive counters apart
    private const int ParallelThreshold = 1 << 16;

    /// <summary>The key of one tensor's stream of values.</summary>
    public static ulong StreamKey(ulong seed, string tensorName) => Mix(Mix(Fnv1a(tensorName)) + seed * Golden);

    /// <summary>
    /// The value at <paramref name="index"/>: <paramref name="mean"/> plus a symmetric triangular variable (the sum of
    /// two uniforms, bell-like with no tails) scaled to standard deviation <paramref name="std"/>.
    /// </summary>
    public static float Value(ulong key, long index, float mean, float std) => Value(key, index, mean, Scale(std));

    /// <summary>Fills <paramref name="destination"/> with the values at indices firstIndex, firstIndex + 1, ….</summary>
    public static unsafe void Fill(ulong key, long firstIndex, Span<float> destination, float mean, float std)
    {
        double scale = Scale(std);
        if (destination.Length < ParallelThreshold)
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = Value(key, firstIndex + i, mean, scale);
            return;
        }
        fixed (float* start = destination)
        {
            var p = start; // a fixed local cannot be captured
            int length = destination.Length;
            int blocks = (length + ParallelThreshold - 1) / ParallelThreshold;
            Parallel.For(0, blocks, b =>
            {
                int from = b * ParallelThreshold, to = Math.Min(length, from + ParallelThreshold);
                for (int i = from; i < to; i++) p[i] = Value(key, firstIndex + i, mean, scale);
            });
        }
    }

    // (u1 + u2 - 1) for u uniform on [0, 1) has standard deviation sqrt(1/6); t below is that sum times 2^32.
    private static double Scale(float std) => std * Math.Sqrt(6) / 4294967296.0;

    private static float Value(ulong key, long index, float mean, double scale)
    {
        ulong bits = Mix(key + (ulong)index * Golden);
        long t = (long)(bits >> 32) + (long)(bits & 0xFFFFFFFF) - 0xFFFFFFFFL;
        return (float)(mean + t * scale);
    }

    // SplitMix64's finalizer: a bijective 64-bit mix with full avalanche.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 0xCBF29CE484222325;
        foreach (char c in s) h = (h ^ c) * 0x100000001B3;
        return h;
    }
}
