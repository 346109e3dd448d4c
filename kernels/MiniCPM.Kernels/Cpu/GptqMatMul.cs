using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MiniCPM.Kernels.Formats.Int4;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// y = W·x (+ b) with W a 4-bit GPTQ weight (<see cref="GptqTensor"/>), fused. AutoGPTQ packs along the input
/// dimension, so one int32 of qweight holds 8 inputs of one output and a qweight row holds one input octet of every
/// output: the kernels walk qweight rows and keep a tile of 16 consecutive outputs in the lanes of a vector.
/// <para>
/// One token: per group, Σ q·x over the group's inputs is accumulated with the raw codes (shift, mask, convert,
/// FMA per 16 weights), and the group enters the output as scale · (Σ q·x − zero · Σ x). That is the dequantized dot
/// product regrouped — scale · (q − zero) is exact in float32 — so the result differs from the reference only by
/// float32 rounding. Act-order checkpoints (g_idx not i / group_size) keep one accumulator per group.
/// </para>
/// <para>Many tokens: a tile's weights are decoded exactly (scale · (q − zero)) chunk by chunk into a per-thread buffer,
/// [inputs, 16 outputs], and every token's partial sums are accumulated from it.</para>
/// Tiles cover 16 outputs; a remainder of 8 outputs (the matrix allows any multiple of 8) runs the scalar path.
/// </summary>
public static unsafe class GptqMatMul
{
    private const int Tile = 16;
    /// <summary>Inputs decoded per chunk in the multi-token path: 256 × 16 floats = 16 KiB, comfortably in L1/L2.</summary>
    private const int Chunk = 256;

    public static void Multiply(in GptqTensor w, ReadOnlySpan<float> x, int tokens, Span<float> y,
        ReadOnlySpan<float> bias = default, CpuThreadPool? pool = null)
    {
        Int4Checks.Shapes(w.Rows, w.Cols, x, tokens, y, bias);
        if (tokens == 0 || w.Rows == 0) return;
        int tiles = (w.Rows + Tile - 1) / Tile;
        fixed (float* xp = x, yp = y, bp = bias)
        {
            float* b = bias.IsEmpty ? null : bp;
            if (tokens == 1)
            {
                // Σ x per group, once per call.
                float* groupSums = (float*)NativeMemory.AllocZeroed((nuint)w.Groups * sizeof(float));
                try
                {
                    for (int i = 0; i < w.Cols; i++) groupSums[w.GroupIndex[i]] += xp[i];
                    if (w.ContiguousGroupSize != 0 && Avx512F.IsSupported) MatVecByGroups(w, xp, groupSums, yp, b, pool);
                    else
                    {
                        var job = new MatVecJob(w, xp, groupSums, yp, b);
                        if (pool is null) job.Execute(0, tiles);
                        else pool.For(tiles, job, grain: 4);
                    }
                }
                finally
                {
                    NativeMemory.Free(groupSums);
                }
            }
            else
            {
                var job = new MultiTokenJob(w, xp, tokens, yp, b);
                if (pool is null) job.Execute(0, tiles);
                else pool.For(tiles, job);
            }
        }
    }

    /// <summary>
    /// One token, contiguous groups: the work is split by input groups, not outputs. Each part reads a contiguous run
    /// of qweight rows across the whole width (split by outputs, each thread would take a narrow column strip of every
    /// row, which measured 3× slower at 2 threads) into its own partial output; the parts are summed at the end.
    /// </summary>
    private static void MatVecByGroups(in GptqTensor w, float* x, float* groupSums, float* y, float* bias, CpuThreadPool? pool)
    {
        int threads = pool?.ThreadCount ?? 1;
        int parts = Math.Min(w.Groups, threads == 1 ? 1 : threads * 4);
        int width = w.Rows / Tile * Tile; // outputs in whole SIMD tiles; the rest (8 at most) run scalar below
        float* partials = parts == 1 ? y : (float*)NativeMemory.AlignedAlloc((nuint)((long)parts * width * sizeof(float)), 64);
        try
        {
            var job = new GroupPartsJob(w, x, groupSums, partials, parts, width);
            if (pool is null || parts == 1) job.Execute(0, parts);
            else pool.For(parts, job);
            if (parts > 1)
                for (int o = 0; o < width; o += Tile)
                {
                    Vector512<float> sum = Vector512.Load(partials + o);
                    for (int p = 1; p < parts; p++) sum += Vector512.Load(partials + (long)p * width + o);
                    sum.Store(y + o);
                }
        }
        finally
        {
            if (parts > 1) NativeMemory.AlignedFree(partials);
        }
        for (int o = width; o < w.Rows; o++) y[o] = DotOutput(w, o, x);
        if (bias != null)
            for (int o = 0; o < w.Rows; o++) y[o] += bias[o];
    }

    private readonly struct GroupPartsJob(GptqTensor w, float* x, float* groupSums, float* partials, int parts, int width) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int part = start; part < end; part++)
            {
                float* y = partials + (long)part * width;
                new Span<float>(y, width).Clear();
                int g0 = (int)((long)part * w.Groups / parts), g1 = (int)((long)(part + 1) * w.Groups / parts);
                for (int g = g0; g < g1; g++)
                {
                    int o = 0;
                    for (; o + 4 * Tile <= width; o += 4 * Tile) AddGroupTile4(w, g, o, x, groupSums[g], y);
                    for (; o < width; o += Tile) AddGroupTile(w, g, o, x, groupSums[g], y);
                }
            }
        }
    }

    /// <summary>
    /// Adds group <paramref name="g"/>'s share to y[o0 .. o0+64) for one token (contiguous groups): four 16-output
    /// tiles side by side, so each qweight row yields 256 consecutive bytes and eight FMA chains are in flight.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddGroupTile4(in GptqTensor w, int g, int o0, float* x, float groupSum, float* y)
    {
        int outs = w.Rows, groupSize = w.ContiguousGroupSize;
        Vector512<int> nibble = Vector512.Create(0xF);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int firstOctet = g * groupSize / 8, lastOctet = Math.Min(w.Cols, (g + 1) * groupSize) / 8;
        for (int k = firstOctet; k < lastOctet; k++)
        {
            int* row = w.QWeight + (long)k * outs + o0;
            Vector512<int> q0 = Vector512.Load(row), q1 = Vector512.Load(row + 16), q2 = Vector512.Load(row + 32), q3 = Vector512.Load(row + 48);
            float* xi = x + 8 * k;
            for (int j = 0; j < 8; j += 2)
            {
                Vector512<float> xe = Vector512.Create(xi[j]), xo = Vector512.Create(xi[j + 1]);
                a0 = Vector512.FusedMultiplyAdd(Code(q0, 4 * j, nibble), xe, a0);
                a1 = Vector512.FusedMultiplyAdd(Code(q1, 4 * j, nibble), xe, a1);
                a2 = Vector512.FusedMultiplyAdd(Code(q2, 4 * j, nibble), xe, a2);
                a3 = Vector512.FusedMultiplyAdd(Code(q3, 4 * j, nibble), xe, a3);
                b0 = Vector512.FusedMultiplyAdd(Code(q0, 4 * j + 4, nibble), xo, b0);
                b1 = Vector512.FusedMultiplyAdd(Code(q1, 4 * j + 4, nibble), xo, b1);
                b2 = Vector512.FusedMultiplyAdd(Code(q2, 4 * j + 4, nibble), xo, b2);
                b3 = Vector512.FusedMultiplyAdd(Code(q3, 4 * j + 4, nibble), xo, b3);
            }
        }
        Vector512<float> sum = Vector512.Create(groupSum);
        AddGroup(w, g, o0, a0 + b0, sum, y);
        AddGroup(w, g, o0 + 16, a1 + b1, sum, y);
        AddGroup(w, g, o0 + 32, a2 + b2, sum, y);
        AddGroup(w, g, o0 + 48, a3 + b3, sum, y);
    }

    /// <summary>Adds group <paramref name="g"/>'s share to y[o0 .. o0+16) (contiguous groups).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddGroupTile(in GptqTensor w, int g, int o0, float* x, float groupSum, float* y)
    {
        int outs = w.Rows, groupSize = w.ContiguousGroupSize;
        Vector512<int> nibble = Vector512.Create(0xF);
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        int firstOctet = g * groupSize / 8, lastOctet = Math.Min(w.Cols, (g + 1) * groupSize) / 8;
        for (int k = firstOctet; k < lastOctet; k++)
        {
            Vector512<int> q = Vector512.Load(w.QWeight + (long)k * outs + o0);
            float* xi = x + 8 * k;
            for (int j = 0; j < 8; j += 2)
            {
                acc0 = Vector512.FusedMultiplyAdd(Code(q, 4 * j, nibble), Vector512.Create(xi[j]), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Code(q, 4 * j + 4, nibble), Vector512.Create(xi[j + 1]), acc1);
            }
        }
        AddGroup(w, g, o0, acc0 + acc1, Vector512.Create(groupSum), y);
    }

    /// <summary>y[o0 .. o0+16) += scale · (Σ q·x − zero · Σ x) for group <paramref name="g"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddGroup(in GptqTensor w, int g, int o0, Vector512<float> codeDot, Vector512<float> groupSum, float* y) =>
        Vector512.FusedMultiplyAdd(Scales(w, g, o0), codeDot - Zeros(w, g, o0) * groupSum, Vector512.Load(y + o0)).Store(y + o0);

    /// <summary>y[o0 .. o0+16) for one token, act-order (the inputs of a group are scattered, so each group keeps its own accumulator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVecTileActOrder(in GptqTensor w, int o0, float* x, float* groupSums, float* y)
    {
        int outs = w.Rows;
        Vector512<int> nibble = Vector512.Create(0xF);
        var accumulators = (Vector512<float>*)NativeMemory.AllocZeroed((nuint)w.Groups, (nuint)sizeof(Vector512<float>));
        try
        {
            for (int k = 0; k < w.Cols / 8; k++)
            {
                Vector512<int> q = Vector512.Load(w.QWeight + (long)k * outs + o0);
                for (int j = 0; j < 8; j++)
                {
                    Vector512<float>* a = accumulators + w.GroupIndex[8 * k + j];
                    *a = Vector512.FusedMultiplyAdd(Code(q, 4 * j, nibble), Vector512.Create(x[8 * k + j]), *a);
                }
            }
            Vector512<float> result = Vector512<float>.Zero;
            for (int g = 0; g < w.Groups; g++)
                result = Vector512.FusedMultiplyAdd(Scales(w, g, o0), accumulators[g] - Zeros(w, g, o0) * Vector512.Create(groupSums[g]), result);
            result.Store(y + o0);
        }
        finally
        {
            NativeMemory.Free(accumulators);
        }
    }

    /// <summary>The codes at bit <paramref name="shift"/> of 16 packed int32s, as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Code(Vector512<int> q, int shift, Vector512<int> nibble) =>
        Vector512.ConvertToSingle(Vector512.ShiftRightLogical(q, shift) & nibble);

    /// <summary>The scales of group <paramref name="g"/> for outputs o0..o0+15, f16 → float32 exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Scales(in GptqTensor w, int g, int o0)
    {
        Vector512<uint> h = Avx512F.ConvertToVector512UInt32(Vector256.Load(w.Scales + (long)g * w.Rows + o0));
        // The half's exponent and mantissa moved 13 bits up, its sign on top, are a float 2¹¹² too small (subnormals
        // included); Inf/NaN get float's all-ones exponent first. One multiply rescales exactly.
        Vector512<uint> bits = (h & Vector512.Create(0x7FFFu)) << 13 | (h & Vector512.Create(0x8000u)) << 16;
        Vector512<uint> allOnes = Vector512.Create(0x0F800000u);
        bits |= Vector512.Equals(bits & allOnes, allOnes) & Vector512.Create(0x70000000u);
        return bits.AsSingle() * Vector512.Create(5.192296858534828e33f);
    }

    /// <summary>The zeros (stored + offset) of group <paramref name="g"/> for outputs o0..o0+15: two packed int32s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Zeros(in GptqTensor w, int g, int o0)
    {
        int* packed = w.QZeros + (long)g * (w.Rows / 8) + o0 / 8;
        Vector512<int> words = Vector512.Create(Vector256.Create(packed[0]), Vector256.Create(packed[1]));
        Vector512<int> shifts = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        Vector512<int> zeros = (Avx512F.ShiftRightLogicalVariable(words.AsUInt32(), shifts.AsUInt32()).AsInt32() & Vector512.Create(0xF))
            + Vector512.Create(w.ZeroOffset);
        return Vector512.ConvertToSingle(zeros);
    }

    /// <summary>y[o] for one output, element by element (the scalar path and the 8-output remainder).</summary>
    private static float DotOutput(in GptqTensor w, int o, float* x)
    {
        float sum = 0;
        for (int i = 0; i < w.Cols; i++)
        {
            int g = w.GroupIndex[i];
            sum += w.Scale(g, o) * (w.Q(i, o) - w.Zero(g, o)) * x[i];
        }
        return sum;
    }

    private static bool FullTile(in GptqTensor w, int o0) => Avx512F.IsSupported && o0 + Tile <= w.Rows;

    /// <summary>One token, act-order (or no AVX-512): by 16-output tiles.</summary>
    private readonly struct MatVecJob(GptqTensor w, float* x, float* groupSums, float* y, float* bias) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int tile = start; tile < end; tile++)
            {
                int o0 = tile * Tile, o1 = Math.Min(w.Rows, o0 + Tile);
                if (FullTile(w, o0)) MatVecTileActOrder(w, o0, x, groupSums, y);
                else for (int o = o0; o < o1; o++) y[o] = DotOutput(w, o, x);
                if (bias != null) for (int o = o0; o < o1; o++) y[o] += bias[o];
            }
        }
    }

    private readonly struct MultiTokenJob(GptqTensor w, float* x, int tokens, float* y, float* bias) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            float* decoded = (float*)NativeMemory.AlignedAlloc((nuint)(Chunk * Tile * sizeof(float)), 64);
            try
            {
                for (int tile = start; tile < end; tile++)
                {
                    int o0 = tile * Tile, o1 = Math.Min(w.Rows, o0 + Tile);
                    if (FullTile(w, o0)) TokensTile(o0, decoded);
                    else
                        for (int t = 0; t < tokens; t++)
                            for (int o = o0; o < o1; o++) y[(long)t * w.Rows + o] = DotOutput(w, o, x + (long)t * w.Cols);
                    if (bias != null)
                        for (int t = 0; t < tokens; t++)
                            for (int o = o0; o < o1; o++) y[(long)t * w.Rows + o] += bias[o];
                }
            }
            finally
            {
                NativeMemory.AlignedFree(decoded);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TokensTile(int o0, float* decoded)
        {
            int outs = w.Rows, cols = w.Cols;
            Vector512<int> nibble = Vector512.Create(0xF);
            for (int t = 0; t < tokens; t++) Vector512<float>.Zero.Store(y + (long)t * outs + o0);
            for (int c0 = 0; c0 < cols; c0 += Chunk)
            {
                int count = Math.Min(Chunk, cols - c0);
                // Decode [count inputs, 16 outputs] exactly: scale · (q − zero).
                for (int k = c0 / 8; k < (c0 + count) / 8; k++)
                {
                    Vector512<int> q = Vector512.Load(w.QWeight + (long)k * outs + o0);
                    for (int j = 0; j < 8; j++)
                    {
                        int g = w.GroupIndex[8 * k + j];
                        Vector512<float> weight = Scales(w, g, o0) * (Code(q, 4 * j, nibble) - Zeros(w, g, o0));
                        weight.Store(decoded + (8 * k + j - c0) * Tile);
                    }
                }
                int t = 0;
                for (; t + 4 <= tokens; t += 4)
                {
                    float* x0 = x + (long)t * cols + c0;
                    long xs = cols;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int i = 0; i < count; i++)
                    {
                        Vector512<float> wi = Vector512.Load(decoded + i * Tile);
                        a0 = Vector512.FusedMultiplyAdd(wi, Vector512.Create(x0[i]), a0);
                        a1 = Vector512.FusedMultiplyAdd(wi, Vector512.Create(x0[xs + i]), a1);
                        a2 = Vector512.FusedMultiplyAdd(wi, Vector512.Create(x0[2 * xs + i]), a2);
                        a3 = Vector512.FusedMultiplyAdd(wi, Vector512.Create(x0[3 * xs + i]), a3);
                    }
                    Accumulate(y + (long)t * outs + o0, a0);
                    Accumulate(y + (long)(t + 1) * outs + o0, a1);
                    Accumulate(y + (long)(t + 2) * outs + o0, a2);
                    Accumulate(y + (long)(t + 3) * outs + o0, a3);
                }
                for (; t < tokens; t++)
                {
                    float* xt = x + (long)t * cols + c0;
                    Vector512<float> a = default;
                    for (int i = 0; i < count; i++)
                        a = Vector512.FusedMultiplyAdd(Vector512.Load(decoded + i * Tile), Vector512.Create(xt[i]), a);
                    Accumulate(y + (long)t * outs + o0, a);
                }
            }
        }

        private static void Accumulate(float* destination, Vector512<float> value) =>
            (Vector512.Load(destination) + value).Store(destination);
    }
}
