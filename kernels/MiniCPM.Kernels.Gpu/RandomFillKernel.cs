using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Fills device buffers with reproducible pseudo-random but valid weight data (benchmarks build 7B-shape models on
/// the device instead of uploading gigabytes): raw bits for quant levels, or finite small halves where a word holds
/// fp16 values (weights, scales).
/// </summary>
public static class RandomFillKernel
{
    /// <summary>Random words; where <paramref name="halfEvery"/> &gt; 0, every halfEvery-th word (from 0) holds two
    /// finite halves instead (F16 matrices: 1, Q4_K super-block headers: 36 words per block → 36).</summary>
    public static void Words(Index1D i, ArrayView<uint> words, uint seed, int halfEvery)
    {
        uint h = Hash((uint)i.X ^ seed);
        if (halfEvery > 0 && i % halfEvery == 0) h = SmallHalf(h) | (SmallHalf(Hash(h)) << 16);
        words[i] = h;
    }

    /// <summary>fp16 scales around 2^-6..2^-3, either sign.</summary>
    public static void Halves(Index1D i, ArrayView<ushort> halves, uint seed) =>
        halves[i] = (ushort)SmallHalf(Hash((uint)i.X ^ seed));

    /// <summary>A finite half of magnitude 2^-6..2^-2 with a random sign and mantissa.</summary>
    private static uint SmallHalf(uint h) => (h & 0x83FF) | ((9 + (h >> 10) % 4) << 10);

    private static uint Hash(uint x)
    {
        x ^= x >> 16; x *= 0x7FEB352D;
        x ^= x >> 15; x *= 0x846CA68B;
        x ^= x >> 16;
        return x;
    }
}
