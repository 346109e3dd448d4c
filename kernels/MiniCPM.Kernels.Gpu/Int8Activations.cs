using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Activations quantized to int8 blocks of 32 on the device (ggml's Q8_0/Q8_1 as the CPU's int8 path makes them): per
/// block two 16-byte words of signed quants, the scale d = f16(amax/127), Σq (which pays Q4_0's −8 offset with one
/// integer multiply instead of 32) and Q8_1's s = f16(amax/127·Σq), what a weight block's min multiplies (Q4_1,
/// Q5_1). Token t's blocks start at t·BlocksPerToken.
/// </summary>
public struct Int8Blocks
{
    public ArrayView<UInt4> Quants;
    public ArrayView<float> Scales;
    public ArrayView<int> Sums;
    public ArrayView<float> MinTerms;
    public int BlocksPerToken;

    /// <summary>Block <paramref name="index"/> as a dot product reads it, counted from the view's start (a token's
    /// blocks: <see cref="FromToken"/>), so the index math stays 32-bit.</summary>
    public readonly Int8ActivationBlock Block(int index) => new()
    {
        Low = Quants[2 * index], High = Quants[2 * index + 1], Scale = Scales[index], Sum = Sums[index],
        MinTerm = MinTerms[index],
    };

    /// <summary>The blocks from token <paramref name="token"/> on (a producer writing rows at an offset).</summary>
    public readonly Int8Blocks FromToken(int token)
    {
        long block = (long)token * BlocksPerToken;
        return new Int8Blocks
        {
            Quants = Quants.SubView(2 * block), Scales = Scales.SubView(block), Sums = Sums.SubView(block),
            MinTerms = MinTerms.SubView(block), BlocksPerToken = BlocksPerToken,
        };
    }
}

/// <summary>Quantization of float activations into <see cref="Int8Blocks"/>, alone or fused into the op that makes them.</summary>
public static class Int8Quantizer
{
    /// <summary>One thread per 4 values (8 lanes per block); <paramref name="quads"/> = values / 4, a multiple of 8.</summary>
    public static void Kernel(ArrayView<float> x, Int8Blocks q, int quads)
    {
        int quad = Grid.IdxX * Group.DimX + Group.IdxX;
        bool active = quad < quads; // whole blocks of 8 lanes; idle lanes still join the shuffles
        Float4 v = active ? x.Cast<Float4>()[quad] : default;
        QuantizeQuad(v, q, quad / 8, active);
    }

    /// <summary>
    /// Block <paramref name="block"/> of <paramref name="q"/> from 8 consecutive, 8-aligned lanes, each holding 4 of its
    /// values in <paramref name="v"/> (lane &amp; 7 = which 4): the one quantization every producer uses (the standalone
    /// kernel and the ops that write int8 next to their floats), so fused and unfused paths make the same bytes.
    /// amax and Σq are exact in any order, so sharing them by shuffles gives the bytes one thread per block would.
    /// All 32 lanes of the warp must call it together (shuffles); <paramref name="active"/> = false lanes only help.
    /// </summary>
    internal static void QuantizeQuad(Float4 v, Int8Blocks q, long block, bool active)
    {
        float amax = AbsMax(v);
        amax = IntrinsicMath.Max(amax, Warp.ShuffleXor(amax, 1));
        amax = IntrinsicMath.Max(amax, Warp.ShuffleXor(amax, 2));
        amax = IntrinsicMath.Max(amax, Warp.ShuffleXor(amax, 4));
        float id = amax != 0 ? 127f / amax : 0f;
        int sum = 0;
        uint word = Pack(v, id, ref sum);
        sum += Warp.ShuffleXor(sum, 1);
        sum += Warp.ShuffleXor(sum, 2);
        sum += Warp.ShuffleXor(sum, 4);
        if (!active) return;
        int quad = Warp.LaneIdx & 7;
        q.Quants.Cast<uint>()[8 * block + quad] = word; // words 0..3 and 4..7: the block's two 16-byte halves
        if (quad != 0) return;
        // s from the unrounded d, as ggml's quantize_row_q8_1 (and the CPU's int8 path) stores it.
        float d = amax / 127f;
        q.Scales[block] = RoundToHalf(d);
        q.Sums[block] = sum;
        q.MinTerms[block] = RoundToHalfSigned(d * sum);
    }

    /// <summary>
    /// A non-negative float rounded to the nearest f16 value (ties to even), as float. Written out because ILGPU's
    /// Half conversion truncates on the CPU simulator (it rounds on CUDA): normal halves keep 10 mantissa bits,
    /// subnormal ones (below 2^-14) are multiples of 2^-24.
    /// </summary>
    internal static float RoundToHalf(float value)
    {
        if (value < 6.103515625e-5f) return RoundHalfEven(value * 16777216f) * 5.9604644775390625e-8f;
        uint bits = Interop.FloatAsInt(value);
        bits = (bits + 0xFFFu + ((bits >> 13) & 1u)) & 0xFFFFE000u;
        return Interop.IntAsFloat(bits);
    }

    /// <summary>
    /// Any float rounded to the nearest f16 value as float (<see cref="RoundToHalf"/> on the magnitude), ±∞ beyond the
    /// f16 range as ggml's FP32_TO_FP16 (and the CPU's Fp16.FromFloat) make it.
    /// </summary>
    internal static float RoundToHalfSigned(float value)
    {
        float magnitude = RoundToHalf(IntrinsicMath.Abs(value));
        if (magnitude > 65504f) magnitude = float.PositiveInfinity;
        return value < 0 ? -magnitude : magnitude;
    }

    /// <summary>
    /// t rounded to the nearest integer, ties to even, for |t| &lt; 2^22: adding 1.5·2^23 leaves no fraction bits, so
    /// the IEEE addition itself rounds (ties to even), and subtracting it back is exact. Written out because
    /// ILGPU.Algorithms' XMath.RoundToEven (bit manipulation) gave wrong quants on an H200 while passing on the
    /// simulator. The clamp sits between the caller's product and the addition so ptxas cannot fuse them into an FMA,
    /// which would round the exact product rather than the float one the CPU rounds.
    /// </summary>
    internal static float RoundHalfEven(float t)
    {
        const float Magic = 12582912f, Limit = 4194304f;
        float pinned = IntrinsicMath.Min(IntrinsicMath.Max(t, -Limit), Limit);
        return pinned + Magic - Magic;
    }

    internal static float AbsMax(Float4 f) =>
        IntrinsicMath.Max(IntrinsicMath.Max(IntrinsicMath.Abs(f.X), IntrinsicMath.Abs(f.Y)),
            IntrinsicMath.Max(IntrinsicMath.Abs(f.Z), IntrinsicMath.Abs(f.W)));

    /// <summary>Four values → four signed bytes, round half to even (as the CPU's Vector256.Round).</summary>
    internal static uint Pack(Float4 f, float id, ref int sum)
    {
        int a = (int)RoundHalfEven(f.X * id), b = (int)RoundHalfEven(f.Y * id);
        int c = (int)RoundHalfEven(f.Z * id), d = (int)RoundHalfEven(f.W * id);
        sum += a + b + c + d;
        return ((uint)a & 0xFF) | (((uint)b & 0xFF) << 8) | (((uint)c & 0xFF) << 16) | (((uint)d & 0xFF) << 24);
    }
}

/// <summary>Integer dot products of four signed bytes.</summary>
internal static class Int8Math
{
    /// <summary>c + Σ a_i·b_i over the four signed bytes of a and b: one <c>dp4a</c> on CUDA, plain integer math elsewhere.</summary>
    public static int Dp4a(uint a, uint b, int c)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("dp4a.s32.s32 %0, %1, %2, %3;", out int result, (int)a, (int)b, c);
            return result;
        }
        return c + Bits.SignedByteInt(a, 0) * Bits.SignedByteInt(b, 0) + Bits.SignedByteInt(a, 1) * Bits.SignedByteInt(b, 1)
                 + Bits.SignedByteInt(a, 2) * Bits.SignedByteInt(b, 2) + Bits.SignedByteInt(a, 3) * Bits.SignedByteInt(b, 3);
    }

    /// <summary>Σx_q over the block's first 16 values (dp4a against ones); the other 16 sum to x.Sum minus it.</summary>
    public static int SumLowHalf(Int8ActivationBlock x) => Dot16(0x01010101, 0x01010101, 0x01010101, 0x01010101, x.Low, 0);

    /// <summary>c + Σ of the 16 signed-byte products of (a0, a1, a2, a3) and <paramref name="b"/>'s words: four dp4a,
    /// one 16-value half of an activation block.</summary>
    public static int Dot16(uint a0, uint a1, uint a2, uint a3, UInt4 b, int c) =>
        Dp4a(a3, b.W, Dp4a(a2, b.Z, Dp4a(a1, b.Y, Dp4a(a0, b.X, c))));
}
