using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The activation layout that kernels over 16-bit weights read (see <see cref="IFloatWeights.SplitsPairs"/>): in
/// every whole block of 32 columns, the 16 even columns first, then the 16 odd ones; columns past the last whole
/// block stay in place. Matrix-vector products make this copy once per call and reuse it for every row.
/// </summary>
internal static unsafe class PairSplit
{
    public const int Block = 32;

    public static void Copy(float* x, float* split, int count)
    {
        int c = 0;
        if (Avx512F.IsSupported)
        {
            // Lane k of the even half takes element 2k of (low, high); of the odd half, 2k + 1.
            Vector512<int> evenIndex = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            Vector512<int> oddIndex = evenIndex + Vector512<int>.One;
            for (; c + Block <= count; c += Block)
            {
                Vector512<float> low = Vector512.Load(x + c), high = Vector512.Load(x + c + 16);
                Avx512F.PermuteVar16x32x2(low, evenIndex, high).Store(split + c);
                Avx512F.PermuteVar16x32x2(low, oddIndex, high).Store(split + c + 16);
            }
        }
        for (; c + Block <= count; c += Block)
            for (int k = 0; k < Block / 2; k++)
            {
                split[c + k] = x[c + 2 * k];
                split[c + Block / 2 + k] = x[c + 2 * k + 1];
            }
        for (; c < count; c++) split[c] = x[c];
    }
}
