namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>A weight quantized to 4-bit GPTQ, in AutoGPTQ's stored arrays (see <see cref="GptqTensor"/>).</summary>
public sealed record GptqQuantized(int[] QWeight, int[] QZeros, ushort[] Scales, int[] GroupIndex, int Groups, int ZeroOffset);

/// <summary>
/// Quantizes a float32 [out, in] weight into AutoGPTQ's 4-bit layout. The per-(group, output) parameters are
/// AutoGPTQ's Quantizer.find_params (min and max taken with 0; symmetric: ±max|x| and zero 8; asymmetric: zero =
/// round(−min/scale); an all-zero group uses [−1, 1]); each value is rounded to nearest with the f16 scale as stored
/// (round half to even, as torch.round). This is round-to-nearest: GPTQ's Hessian-based error feedback only changes
/// which codes are chosen, not how they are stored, and the layout is what a loader must read.
/// </summary>
public static class GptqQuantizer
{
    private const int MaxQ = 15;

    /// <param name="groupIndex">The group of each input (act-order checkpoints permute it); null for i / groupSize.</param>
    /// <param name="zeroOffset">1 for the old "gptq" format (zero − 1 stored), 0 for "gptq_v2".</param>
    public static GptqQuantized Quantize(ReadOnlySpan<float> weights, int rows, int cols, int groupSize, bool symmetric,
        int zeroOffset = 1, int[]? groupIndex = null)
    {
        if (rows % 8 != 0 || cols % 8 != 0) throw new ArgumentException($"out ({rows}) and in ({cols}) must be multiples of 8");
        if (weights.Length != rows * cols) throw new ArgumentException($"{weights.Length} weights for a {rows}×{cols} matrix");
        groupIndex ??= Enumerable.Range(0, cols).Select(i => i / groupSize).ToArray();
        if (groupIndex.Length != cols) throw new ArgumentException($"g_idx has {groupIndex.Length} entries; {cols} expected");
        int groups = groupIndex.Max() + 1;

        var scales = new ushort[groups * rows];
        var zeros = new int[groups * rows];
        var qweight = new int[cols / 8 * rows];
        var qzeros = new int[groups * (rows / 8)];
        var min = new double[groups];
        var max = new double[groups];
        for (int o = 0; o < rows; o++)
        {
            Array.Clear(min);
            Array.Clear(max);
            for (int i = 0; i < cols; i++)
            {
                int g = groupIndex[i];
                min[g] = Math.Min(min[g], weights[o * cols + i]);
                max[g] = Math.Max(max[g], weights[o * cols + i]);
            }
            for (int g = 0; g < groups; g++)
            {
                double low = min[g], high = max[g];
                if (symmetric)
                {
                    high = Math.Max(-low, high);
                    if (low < 0) low = -high;
                }
                if (low == 0 && high == 0) (low, high) = (-1, 1);
                double scale = (high - low) / MaxQ;
                int zero = symmetric ? (MaxQ + 1) / 2 : (int)Math.Round(-low / scale, MidpointRounding.ToEven);
                scales[g * rows + o] = Fp16.FromFloat((float)scale);
                zeros[g * rows + o] = zero;
                int stored = (zero - zeroOffset) & 0xF;
                qzeros[g * (rows / 8) + o / 8] |= stored << (o % 8 * 4);
            }
            for (int i = 0; i < cols; i++)
            {
                int g = groupIndex[i];
                double scale = Fp16.ToFloat(scales[g * rows + o]);
                int q = (int)Math.Clamp(Math.Round(weights[o * cols + i] / scale, MidpointRounding.ToEven) + zeros[g * rows + o], 0, MaxQ);
                qweight[i / 8 * rows + o] |= q << (i % 8 * 4);
            }
        }
        return new GptqQuantized(qweight, qzeros, scales, groupIndex, groups, zeroOffset);
    }
}
