using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// The activation quantizer against naive re-statements of ggml's semantics written here (x86 quantize_row_q8_0 /
/// q8_1 and quantize_row_q8_K_ref), on random blocks, zero blocks, blocks with exact .5 ties, and hand cases.
/// </summary>
public sealed unsafe class Int8ActivationTests
{
    /// <summary>ggml's nearest_int: adding 1.5·2²³ in float rounds to the nearest integer, ties to even.</summary>
    private static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007FFFFF) - 0x00400000;
    }

    private static float F16(float value) => (float)(Half)value;

    [Fact]
    public void Q8_0BlocksFollowGgmlsX86Quantizer()
    {
        var random = new Random(11);
        const int cols = 32 * 40;
        var x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 3)));
        x.AsSpan(32, 32).Clear(); // a zero block: d = 0, quants 0
        for (int j = 0; j < 32; j++) x[64 + j] = j - 15.5f + (j == 0 ? -111.5f : 0); // amax 127: id = 1, every other value a tie
        fixed (float* xp = x)
        {
            var q = Int8Activations.Quantize(xp, 1, cols, kBlocks: false);
            Int8Vector* v = q.Token(0);
            for (int b = 0; b < cols / 32; b++)
            {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[32 * b + j]));
                float d = amax / 127f;
                float id = amax != 0 ? 127f / amax : 0f;
                int sum = 0;
                for (int j = 0; j < 32; j++)
                {
                    int expected = (int)MathF.Round(x[32 * b + j] * id, MidpointRounding.ToEven);
                    Assert.Equal(expected, v->Quants[32 * b + j]);
                    sum += expected;
                }
                Assert.Equal(F16(d), v->Scales[b]);
                Assert.Equal(sum, v->BlockSums[b]);
                Assert.Equal(F16(d * sum), v->MinTerms[b]);
            }
            // The tie block by hand: −127, then −14.5 → −14, −13.5 → −14, …, 0.5 → 0, 1.5 → 2.
            Assert.Equal(-127, v->Quants[64]);
            Assert.Equal(-14, v->Quants[65]);
            Assert.Equal(-14, v->Quants[66]);
            Assert.Equal(0, v->Quants[64 + 16]);
            Assert.Equal(2, v->Quants[64 + 17]);
        }
    }

    [Fact]
    public void Q8_KBlocksFollowGgmlsReferenceQuantizer()
    {
        var random = new Random(12);
        const int cols = 256 * 12;
        var x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 3)));
        x.AsSpan(256, 256).Clear();
        // Equal magnitudes of both signs: ggml keeps the first, here the negative one.
        x[512 + 3] = -1000f;
        x[512 + 200] = 1000f;
        fixed (float* xp = x)
        {
            var q = Int8Activations.Quantize(xp, 1, cols, kBlocks: true);
            Int8Vector* v = q.Token(0);
            for (int b = 0; b < cols / 256; b++)
            {
                float max = 0, amax = 0;
                for (int j = 0; j < 256; j++)
                {
                    float ax = Math.Abs(x[256 * b + j]);
                    if (ax > amax) { amax = ax; max = x[256 * b + j]; }
                }
                if (amax == 0)
                {
                    Assert.Equal(0f, v->Scales[b]);
                    for (int j = 0; j < 256; j++) Assert.Equal(0, v->Quants[256 * b + j]);
                    for (int g = 0; g < 16; g++) Assert.Equal(0, v->GroupSums[16 * b + g]);
                    continue;
                }
                float iscale = -127f / max;
                for (int g = 0; g < 16; g++)
                {
                    int sum = 0;
                    for (int l = 0; l < 16; l++)
                    {
                        int expected = Math.Min(127, NearestInt(iscale * x[256 * b + 16 * g + l]));
                        Assert.Equal(expected, v->Quants[256 * b + 16 * g + l]);
                        sum += expected;
                    }
                    Assert.Equal(sum, v->GroupSums[16 * b + g]);
                }
                Assert.Equal(1f / iscale, v->Scales[b]);
            }
            // max = −1000 (the first of the two): iscale = −127/−1000, so −1000 → −127 and +1000 → 127, d > 0.
            Assert.Equal(-127, v->Quants[512 + 3]);
            Assert.Equal(127, v->Quants[512 + 200]);
            Assert.True(v->Scales[2] > 0);
        }
    }

    [Fact]
    public void Q8_KHandCase()
    {
        // max = 127 first: iscale = −1, so q = −x with ties to even, and d = −1.
        var x = new float[256];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -3.5f;
        x[17] = 0.5f;
        fixed (float* xp = x)
        {
            Int8Vector* v = Int8Activations.Quantize(xp, 1, 256, kBlocks: true).Token(0);
            Assert.Equal(-1f, v->Scales[0]);
            Assert.Equal(-127, v->Quants[0]);
            Assert.Equal(-2, v->Quants[1]);
            Assert.Equal(4, v->Quants[2]);
            Assert.Equal(0, v->Quants[17]);
            Assert.Equal(-125, v->GroupSums[0]);
        }
    }
}
