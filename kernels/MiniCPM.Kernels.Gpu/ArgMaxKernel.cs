using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="ArgMaxKernel"/>.</summary>
public struct ArgMaxArgs
{
    /// <summary>[rows, Cols] scores (logits).</summary>
    public ArrayView<float> Scores;
    /// <summary>With HasMask = 1: bit i % 32 of word i / 32 is set where id i may be chosen; the others count as −∞.</summary>
    public ArrayView<uint> Allowed;
    /// <summary>[rows, Chunks]: each chunk's best score and its id, from <see cref="ArgMaxKernel.Partial"/>.</summary>
    public ArrayView<float> PartialScores;
    public ArrayView<int> PartialIds;
    /// <summary>[rows]: the chosen id, or −1 where the row has nothing to choose.</summary>
    public ArrayView<int> Chosen;
    public int Cols, Chunks, HasMask;
}

/// <summary>
/// Greedy choice over each row of scores, as the engine makes it on the host (masked ids set to −∞, then
/// <c>TokenSampler.ArgMax</c>): the highest score, ties to the lowest id; NaN scores are never chosen. A row has
/// nothing to choose — −1 — when its best allowed score is −∞ (or every allowed score is NaN), or when id 0 is allowed
/// and NaN (the host's scan starts from id 0 and nothing compares greater than NaN, so it fails there).
/// <para>Two launches per row set: a 152,064-wide row of logits is 600 KB, which one thread group would stream through
/// one SM at a fraction of the GPU's bandwidth (tens of µs), so <see cref="Partial"/> spreads it over groups of
/// <see cref="ChunkSize"/> scores, each thread issuing its <see cref="PerThread"/> loads before comparing any (149
/// groups on a 7B vocabulary: the whole row in flight at once), and <see cref="Final"/> reduces the chunks' winners
/// with one group per row. Reductions go through warp shuffles and a shared-memory step between warps.</para>
/// </summary>
public static class ArgMaxKernel
{
    public const int GroupSize = 256;
    public const int PerThread = 4;
    public const int ChunkSize = GroupSize * PerThread;

    /// <summary>Chunks (phase-one groups) per row of <paramref name="cols"/> scores.</summary>
    public static int Chunks(int cols) => (cols + ChunkSize - 1) / ChunkSize;

    /// <summary>Phase one: grid (Chunks, rows); each group's best score and id over its chunk of the row.</summary>
    public static void Partial(ArgMaxArgs a)
    {
        int row = Grid.IdxY, chunk = Grid.IdxX;
        long rowStart = (long)row * a.Cols;
        int first = chunk * ChunkSize + Group.IdxX;
        // Every load issued before any comparison waits on one.
        float v0 = Score(a, rowStart, first), v1 = Score(a, rowStart, first + GroupSize);
        float v2 = Score(a, rowStart, first + 2 * GroupSize), v3 = Score(a, rowStart, first + 3 * GroupSize);
        float best = v0;
        int id = first;
        Take(ref best, ref id, v1, first + GroupSize);
        Take(ref best, ref id, v2, first + 2 * GroupSize);
        Take(ref best, ref id, v3, first + 3 * GroupSize);
        GroupBest(ref best, ref id);
        if (Group.IdxX == 0)
        {
            a.PartialScores[(long)row * a.Chunks + chunk] = best;
            a.PartialIds[(long)row * a.Chunks + chunk] = id;
        }
    }

    /// <summary>Phase two: one group per row; the best of the row's chunk winners, or −1 (see the class remarks).</summary>
    public static void Final(ArgMaxArgs a)
    {
        int row = Grid.IdxX;
        float best = float.NegativeInfinity;
        int id = int.MaxValue;
        for (int c = Group.IdxX; c < a.Chunks; c += GroupSize)
            Take(ref best, ref id, a.PartialScores[(long)row * a.Chunks + c], a.PartialIds[(long)row * a.Chunks + c]);
        GroupBest(ref best, ref id);
        if (Group.IdxX != 0) return;
        bool firstIsNaN = Allowed(a, 0) && float.IsNaN(a.Scores[(long)row * a.Cols]);
        a.Chosen[row] = best == float.NegativeInfinity || firstIsNaN ? -1 : id;
    }

    /// <summary>Score of id <paramref name="i"/> as a candidate: −∞ past the row, for a masked id, and for NaN
    /// (<c>!(v &gt; −∞)</c> holds for exactly −∞ and NaN).</summary>
    private static float Score(ArgMaxArgs a, long rowStart, int i)
    {
        if (i >= a.Cols) return float.NegativeInfinity;
        float v = a.Scores[rowStart + i];
        return v > float.NegativeInfinity && Allowed(a, i) ? v : float.NegativeInfinity;
    }

    private static bool Allowed(ArgMaxArgs a, int i) => a.HasMask == 0 || ((a.Allowed[i >> 5] >> (i & 31)) & 1) != 0;

    /// <summary>(score, id) becomes (s, i) when s is higher, or equal with a lower id: a total order, so any reduction
    /// tree gives the lowest id of the highest score.</summary>
    private static void Take(ref float best, ref int id, float s, int i)
    {
        if (s > best || (s == best && i < id))
        {
            best = s;
            id = i;
        }
    }

    /// <summary>The group's best (score, id), in thread 0 (other threads hold partial results).</summary>
    private static void GroupBest(ref float best, ref int id)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
        {
            float s = Warp.ShuffleXor(best, offset);
            int i = Warp.ShuffleXor(id, offset);
            Take(ref best, ref id, s, i);
        }
        var scores = SharedMemory.Allocate<float>(GroupSize / 32);
        var ids = SharedMemory.Allocate<int>(GroupSize / 32);
        int warp = Group.IdxX / 32;
        if ((Group.IdxX & 31) == 0)
        {
            scores[warp] = best;
            ids[warp] = id;
        }
        Group.Barrier();
        if (Group.IdxX != 0) return;
        for (int w = 1; w < GroupSize / 32; w++) Take(ref best, ref id, scores[w], ids[w]);
    }
}
