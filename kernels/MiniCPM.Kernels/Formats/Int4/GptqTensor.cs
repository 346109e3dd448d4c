namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>
/// A GPTQ 4-bit weight in AutoGPTQ's layout, viewed in place. The engine's weight is W [<see cref="Rows"/> = out,
/// <see cref="Cols"/> = in]; the file stores it transposed and packed along the input dimension:
/// <list type="bullet">
/// <item><c>qweight</c> int32 [in/8, out]: bits 4k..4k+3 of qweight[i/8, o] are q(i, o) for k = i mod 8;</item>
/// <item><c>qzeros</c> int32 [groups, out/8]: bits 4k..4k+3 of qzeros[g, o/8] are the stored zero of (g, o), k = o mod 8;</item>
/// <item><c>scales</c> f16 [groups, out]; <c>g_idx</c> int32 [in]: the group of each input (i / group_size unless act-order);</item>
/// </list>
/// W[o, i] = scale(g, o) · (q(i, o) − (zero(g, o) + <see cref="ZeroOffset"/>)), g = g_idx[i]. Old AutoGPTQ checkpoints
/// ("gptq" format, v1) store zero − 1, so their offset is 1 (with the 4-bit mask applied before adding, a stored 15
/// means 16); "gptq_v2" stores the zero itself (offset 0).
/// </summary>
public readonly unsafe struct GptqTensor
{
    public GptqTensor(int* qweight, int* qzeros, ushort* scales, int* groupIndex, int rows, int cols, int groups, int zeroOffset)
    {
        if (qweight == null || qzeros == null || scales == null || groupIndex == null) throw new ArgumentNullException(nameof(qweight));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        if (rows % 8 != 0 || cols % 8 != 0)
            throw new ArgumentException($"GPTQ 4-bit packing needs in and out to be multiples of 8; got out {rows}, in {cols}");
        QWeight = qweight;
        QZeros = qzeros;
        Scales = scales;
        GroupIndex = groupIndex;
        Rows = rows;
        Cols = cols;
        Groups = groups;
        ZeroOffset = zeroOffset;
        ContiguousGroupSize = FindContiguousGroupSize(groupIndex, cols, groups);
    }

    public int* QWeight { get; }
    public int* QZeros { get; }
    /// <summary>f16 bit patterns.</summary>
    public ushort* Scales { get; }
    public int* GroupIndex { get; }
    /// <summary>Outputs.</summary>
    public int Rows { get; }
    /// <summary>Inputs.</summary>
    public int Cols { get; }
    public int Groups { get; }
    public int ZeroOffset { get; }

    /// <summary>
    /// The group size when g_idx[i] = i / size for every input with size a multiple of 8 (no act-order), else 0: then
    /// a packed int32 never spans two groups and a kernel can walk the groups in order.
    /// </summary>
    public int ContiguousGroupSize { get; }

    public int Q(int input, int output) => (QWeight[(long)(input >> 3) * Rows + output] >> ((input & 7) * 4)) & 0xF;

    public int Zero(int group, int output) =>
        ((QZeros[(long)group * (Rows >> 3) + (output >> 3)] >> ((output & 7) * 4)) & 0xF) + ZeroOffset;

    public float Scale(int group, int output) => Fp16.ToFloat(Scales[(long)group * Rows + output]);

    private static int FindContiguousGroupSize(int* groupIndex, int cols, int groups)
    {
        int size = (cols + groups - 1) / groups;
        if (size % 8 != 0) return 0;
        for (int i = 0; i < cols; i++)
            if (groupIndex[i] != i / size) return 0;
        return size;
    }
}
