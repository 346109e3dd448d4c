using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Where <see cref="AttentionProducts"/> lays out one call's operands, per head h, in one scratch buffer:
/// Q·scale as [h][query][HeadDimPadded], K as [h][key][HeadDimPadded], Vᵀ as [h][dim][KeysPadded] and the scores /
/// weights as [h][query][KeysPadded]; padding is zeros.</summary>
public struct AttentionProductLayout
{
    public ArrayView<float> Queries, Keys, ValuesT, Scores;
    public int HeadDimPadded, KeysPadded;
}

/// <summary>
/// Dense attention (<see cref="DenseAttentionArgs"/>: SigLIP, the resampler, Whisper's block-causal chunks) as two
/// batched tiled products around a row softmax, so the products run on the tensor cores (or the CUDA-core tiled
/// kernel) at matmul speed, where the fused <see cref="DenseAttentionKernel"/> walks keys 32 at a time on CUDA cores:
/// <code>
/// pack:     Qh = Q[:, h]·scale, Kh = K[:, h], Vhᵀ      zero-padded to whole 32-column units
/// scores:   S_h = Qh·Khᵀ                              one product per head, all heads in one launch (MatMulBatch)
/// softmax:  P_h[q] = softmax(S_h[q, :visible(q)]), 0 past it
/// output:   O[:, h] = P_h·Vh                           one product per head, written at the head's columns
/// </code>
/// The scores make a round trip through memory (heads × queries × keys floats) that the fused kernel avoids; at
/// SigLIP's 1024 patches that is 64 MB per layer (84 MB of scratch in all).
/// </summary>
public static class AttentionProducts
{
    /// <summary>Columns are padded to whole 32-column units of the tiled kernels.</summary>
    public static int Padded(int count) => (count + 31) / 32 * 32;

    /// <summary>Floats of scratch one call needs.</summary>
    public static long ScratchFloats(DenseAttentionArgs a)
    {
        long dp = Padded(a.HeadDim), kp = Padded(a.Keys);
        return a.Heads * ((long)a.Queries * dp + kp * dp + a.HeadDim * kp + (long)a.Queries * kp);
    }

    /// <summary>The layout of <see cref="ScratchFloats"/> floats at the start of <paramref name="scratch"/>.</summary>
    public static AttentionProductLayout Layout(DenseAttentionArgs a, ArrayView<float> scratch)
    {
        int dp = Padded(a.HeadDim), kp = Padded(a.Keys);
        long q = (long)a.Heads * a.Queries * dp, k = (long)a.Heads * kp * dp, v = (long)a.Heads * a.HeadDim * kp, s = (long)a.Heads * a.Queries * kp;
        return new AttentionProductLayout
        {
            Queries = scratch.SubView(0, q), Keys = scratch.SubView(q, k), ValuesT = scratch.SubView(q + k, v),
            Scores = scratch.SubView(q + k + v, s), HeadDimPadded = dp, KeysPadded = kp,
        };
    }

    /// <summary>Elements <see cref="Pack"/> writes (one thread each).</summary>
    public static long PackCount(AttentionProductLayout p) =>
        p.Queries.Length + p.Keys.Length + p.ValuesT.Length;

    /// <summary>One element of the padded Q·scale, K or Vᵀ blocks.</summary>
    public static void Pack(Index1D index, DenseAttentionArgs a, AttentionProductLayout p)
    {
        long i = index;
        int d = a.HeadDim, dp = p.HeadDimPadded, kp = p.KeysPadded;
        if (i < p.Queries.Length)
        {
            long perHead = (long)a.Queries * dp;
            int head = (int)(i / perHead), query = (int)(i % perHead / dp), e = (int)(i % dp);
            p.Queries[i] = e < d ? a.Query[(long)query * a.QueryStride + head * d + e] * a.Scale : 0f;
            return;
        }
        i -= p.Queries.Length;
        if (i < p.Keys.Length)
        {
            long perHead = (long)kp * dp;
            int head = (int)(i / perHead), key = (int)(i % perHead / dp), e = (int)(i % dp);
            p.Keys[i] = e < d && key < a.Keys ? a.Key[(long)key * a.KeyStride + head * d + e] : 0f;
            return;
        }
        i -= p.Keys.Length;
        {
            long perHead = (long)d * kp;
            int head = (int)(i / perHead), e = (int)(i % perHead / kp), key = (int)(i % kp);
            p.ValuesT[i] = key < a.Keys ? a.Value[(long)key * a.ValueStride + head * d + e] : 0f;
        }
    }

    /// <summary>One group per (head, query) row of the scores: softmax over the keys the query sees, zeros past them.</summary>
    public static void Softmax(DenseAttentionArgs a, AttentionProductLayout p)
    {
        int row = Grid.IdxX;
        SoftmaxKernel.Row(p.Scores.SubView((long)row * p.KeysPadded, p.KeysPadded), a.VisibleKeys(row % a.Queries), p.KeysPadded);
    }
}
