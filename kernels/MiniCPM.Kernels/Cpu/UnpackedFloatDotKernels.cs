using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Float32-activation dot products for the 32-element block types that have no hand-tuned float kernel (Q4_1, Q5_0,
/// Q5_1), built on the int8 kernels' unpacking (<see cref="IInt8Blocks.Quants"/>): per block the quants are widened to
/// float and multiplied with x, and the block adds d·Σ(u − offset)·x, or d·Σu·x + m·Σx for the types with a min.
/// d·(u − offset) is exactly the Dequantizer's value; d·u + m is its value before one float32 rounding, so the
/// result is the dot of the dequantized row with x up to float32 rounding and summation order.
/// </summary>
internal static unsafe class BlockFloatDotKernels<TBlocks> where TBlocks : IInt8Blocks
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int blocks = cols / 32;
        var sums = Vector512<float>.Zero;
        var mins = Vector512<float>.Zero;
        Vector256<byte> offset = Vector256.Create((byte)(TBlocks.OffsetShift < 0 ? 0 : 1 << TBlocks.OffsetShift));
        for (nint b = 0; b < blocks; b++)
        {
            byte* block = w + b * TBlocks.BlockBytes;
            float* xb = x + b * 32;
            // u − offset in [−16, 15] on wrapping bytes, read as signed.
            Vector256<sbyte> q = (TBlocks.Quants(block) - offset).AsSByte();
            Vector512<float> x0 = Vector512.Load(xb), x1 = Vector512.Load(xb + 16);
            Vector512<float> dot = Vector512.FusedMultiplyAdd(Int8Lanes.ToFloat(q.GetUpper()), x1, Int8Lanes.ToFloat(q.GetLower()) * x0);
            sums = Vector512.FusedMultiplyAdd(dot, Vector512.Create(HalfBits.ToFloat(*(ushort*)block)), sums);
            if (TBlocks.OffsetShift < 0)
                mins = Vector512.FusedMultiplyAdd(x0 + x1, Vector512.Create(HalfBits.ToFloat(*(ushort*)(block + 2))), mins);
        }
        return Vector512.Sum(sums + mins);
    }
}

/// <summary>
/// Float32-activation dot products for the K types without a hand-tuned float kernel (Q2_K, Q3_K, Q5_K), built on
/// <see cref="IKInt8Blocks.Unpack"/>: per group of 16 the block adds (d·s)·Σu·x − (dmin·m)·Σx. d·s and dmin·m are
/// the Dequantizer's own factors (exact in float32), so only float32 rounding and summation order differ from the
/// dot of the dequantized row with x.
/// </summary>
internal static unsafe class KFloatDotKernels<TBlocks> where TBlocks : IKInt8Blocks
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int blocks = cols / 256;
        byte* buffer = stackalloc byte[256 + 8 * 32 + 32 + 32];
        byte* quants = (byte*)(((nint)buffer + 31) & ~(nint)31);
        short* chunkScales = (short*)(quants + 256);
        short* mins = chunkScales + 8 * 16;
        var sums = Vector512<float>.Zero;
        var minSums = Vector512<float>.Zero;
        for (nint b = 0; b < blocks; b++)
        {
            var (d, dmin) = TBlocks.Unpack(w + b * TBlocks.BlockBytes, quants, chunkScales, mins);
            float* xb = x + b * 256;
            for (int g = 0; g < 16; g++)
            {
                Vector512<float> xv = Vector512.Load(xb + 16 * g);
                Vector512<float> q = Int8Lanes.ToFloat(Vector128.Load((sbyte*)quants + 16 * g));
                // Group g is half g % 2 of chunk g / 2: its scale sits in lanes 0..7 or 8..15 of that chunk's vector.
                sums = Vector512.FusedMultiplyAdd(q * xv, Vector512.Create(d * chunkScales[16 * (g / 2) + 8 * (g % 2)]), sums);
                // Q3_K/Q6_K's offset term: dmin·m = d·(offset·s), exact like the Dequantizer's d·s·(u − offset).
                minSums = Vector512.FusedMultiplyAdd(xv, Vector512.Create(dmin * mins[g]), minSums);
            }
        }
        return Vector512.Sum(sums) - Vector512.Sum(minSums);
    }
}
