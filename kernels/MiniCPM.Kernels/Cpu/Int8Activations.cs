using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// One token's activations quantized to int8, as the integer kernels read them: <see cref="Quants"/> in natural order
/// and per-block side data. For the 32-element weight types (ggml's Q8_0/Q8_1): per block of 32 the scale d (rounded
/// to f16, as ggml stores it), <see cref="MinTerms"/> (Q8_1's s = f16(d·Σq)) and Σq. For the K types (ggml's Q8_K): per
/// block of 256 the float32 scale and, per 16 elements, Σq (ggml's bsums).
/// </summary>
internal unsafe struct Int8Vector
{
    public sbyte* Quants;
    public float* Scales;
    public float* MinTerms;
    public int* BlockSums;
    public short* GroupSums;
}

/// <summary>
/// Quantizes float32 activations to int8 blocks with ggml's exact semantics, into a per-thread buffer reused across
/// calls (so a decode step allocates nothing):
/// <list type="bullet">
/// <item>Q8_0/Q8_1 as llama.cpp's x86 build runs them (quantize_row_q8_0/q8_1 in ggml-cpu/arch/x86): amax over the
/// block, d = amax/127 stored as f16, q = round-half-even(x·(127/amax)); Q8_1 adds s = f16(d·Σq).</item>
/// <item>Q8_K (quantize_row_q8_K_ref, which x86 uses too): max = the first x of largest |x|, iscale = −127/max,
/// q = min(127, nearest_int(iscale·x)) (round half even), d = 1/iscale in float32, bsums = Σq per 16.</item>
/// </list>
/// </summary>
internal sealed unsafe class Int8Activations
{
    public const int Block = 32;
    public const int KBlock = 256;
    private const int Align = 64;

    [ThreadStatic] private static Int8Activations? t_cached;

    private byte[] _buffer = [];
    private byte* _base;
    private Int8Vector[] _tokens = [];

    public int Tokens { get; private set; }
    public int Cols { get; private set; }
    /// <summary>Whether the blocks are Q8_K (256) rather than Q8_0/Q8_1 (32).</summary>
    public bool KBlocks { get; private set; }

    /// <summary>Token t's view; the array is pinned (pinned object heap), so the pointer stays valid.</summary>
    public Int8Vector* Token(int t) => (Int8Vector*)Unsafe.AsPointer(ref _tokens[t]);

    /// <summary>
    /// <paramref name="tokens"/> rows of <paramref name="cols"/> activations (row-major) quantized into this thread's
    /// buffer; valid until the thread's next call.
    /// </summary>
    public static Int8Activations Quantize(float* x, int tokens, int cols, bool kBlocks)
    {
        var a = t_cached ??= new Int8Activations();
        a.Prepare(tokens, cols, kBlocks);
        for (int t = 0; t < tokens; t++)
        {
            Int8Vector* v = a.Token(t);
            float* row = x + (long)t * cols;
            if (kBlocks)
                for (int b = 0; b < cols / KBlock; b++)
                    QuantizeKBlock(row + b * KBlock, v->Quants + b * KBlock, v->Scales + b, v->GroupSums + b * (KBlock / 16));
            else
                for (int b = 0; b < cols / Block; b++)
                    QuantizeBlock(row + b * Block, v->Quants + b * Block, v->Scales + b, v->MinTerms + b, v->BlockSums + b);
        }
        return a;
    }

    private void Prepare(int tokens, int cols, bool kBlocks)
    {
        int blockSize = kBlocks ? KBlock : Block;
        if (cols % blockSize != 0)
            throw new ArgumentException($"{cols} columns are not a whole number of int8 activation blocks of {blockSize}", nameof(cols));
        int blocks = cols / blockSize;
        long quantBytes = RoundUp(cols), floatBytes = RoundUp(blocks * sizeof(float));
        long sumBytes = kBlocks ? RoundUp(blocks * 16 * sizeof(short)) : RoundUp(blocks * sizeof(int));
        long perToken = quantBytes + (kBlocks ? floatBytes : 2 * floatBytes) + sumBytes;
        long needed = perToken * tokens + Align;
        if (_buffer.Length < needed)
        {
            _buffer = GC.AllocateUninitializedArray<byte>((int)Math.Max(needed, _buffer.Length * 2L), pinned: true);
            byte* start = (byte*)Unsafe.AsPointer(ref _buffer[0]);
            _base = (byte*)(((nint)start + Align - 1) & ~(nint)(Align - 1));
        }
        if (_tokens.Length < tokens)
            _tokens = GC.AllocateArray<Int8Vector>(Math.Max(tokens, _tokens.Length * 2), pinned: true);

        byte* p = _base;
        for (int t = 0; t < tokens; t++)
        {
            ref Int8Vector v = ref _tokens[t];
            v.Quants = (sbyte*)p; p += quantBytes;
            v.Scales = (float*)p; p += floatBytes;
            if (kBlocks)
            {
                v.MinTerms = null;
                v.BlockSums = null;
                v.GroupSums = (short*)p;
            }
            else
            {
                v.MinTerms = (float*)p; p += floatBytes;
                v.BlockSums = (int*)p;
                v.GroupSums = null;
            }
            p += sumBytes;
        }
        Tokens = tokens;
        Cols = cols;
        KBlocks = kBlocks;
    }

    private static long RoundUp(long bytes) => (bytes + Align - 1) & ~(long)(Align - 1);

    /// <summary>One Q8_0/Q8_1 block of 32 (ggml x86 semantics, see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void QuantizeBlock(float* x, sbyte* q, float* scale, float* minTerm, int* sum)
    {
        Vector256<float> v0 = Vector256.Load(x), v1 = Vector256.Load(x + 8), v2 = Vector256.Load(x + 16), v3 = Vector256.Load(x + 24);
        Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        Vector128<float> m4 = Vector128.Max(m.GetLower(), m.GetUpper());
        float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
        float d = amax / 127f;
        float id = amax != 0f ? 127f / amax : 0f;
        Vector256<float> mul = Vector256.Create(id);
        Vector256<int> i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * mul));
        Vector256<int> i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * mul));
        Vector256<int> i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * mul));
        Vector256<int> i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * mul));
        Vector256<sbyte> bytes = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
        bytes.Store(q);
        int total = Vector256.Sum((i0 + i1) + (i2 + i3));
        *scale = Fp16.ToFloat(Fp16.FromFloat(d));
        *minTerm = Fp16.ToFloat(Fp16.FromFloat(d * total));
        *sum = total;
    }

    /// <summary>One Q8_K block of 256 (quantize_row_q8_K_ref semantics, see the class summary).</summary>
    internal static void QuantizeKBlock(float* x, sbyte* q, float* scale, short* groupSums)
    {
        var m = Vector256<float>.Zero;
        for (int i = 0; i < KBlock; i += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.Load(x + i)));
        Vector128<float> m4 = Vector128.Max(m.GetLower(), m.GetUpper());
        float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
        if (!(amax > 0f))
        {
            // ggml's `if (!amax)`: an all-zero block is d = 0, quants 0 (and zero sums).
            new Span<sbyte>(q, KBlock).Clear();
            new Span<short>(groupSums, KBlock / 16).Clear();
            *scale = 0f;
            return;
        }
        // ggml keeps the first element of largest magnitude, with its sign.
        float max = 0f;
        Vector256<float> amaxVector = Vector256.Create(amax);
        for (int i = 0; i < KBlock; i += 8)
        {
            uint hits = Vector256.Equals(Vector256.Abs(Vector256.Load(x + i)), amaxVector).ExtractMostSignificantBits();
            if (hits != 0)
            {
                max = x[i + System.Numerics.BitOperations.TrailingZeroCount(hits)];
                break;
            }
        }
        float iscale = -127f / max;
        Vector256<float> mul = Vector256.Create(iscale);
        Vector256<int> top = Vector256.Create(127);
        for (int g = 0; g < KBlock / 16; g++)
        {
            // nearest_int adds 1.5·2²³ in float: round half to even, like Round.
            Vector256<int> i0 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + 16 * g) * mul)), top);
            Vector256<int> i1 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + 16 * g + 8) * mul)), top);
            Vector256<short> words = Vector256.Narrow(i0, i1);
            Vector128.Narrow(words.GetLower(), words.GetUpper()).Store(q + 16 * g);
            groupSums[g] = (short)Vector256.Sum(i0 + i1);
        }
        *scale = 1f / iscale;
    }
}
