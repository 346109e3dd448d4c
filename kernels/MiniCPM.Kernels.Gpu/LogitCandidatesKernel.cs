using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="LogitCandidatesKernel"/>.</summary>
public struct LogitCandidatesArgs
{
    /// <summary>One row of logits.</summary>
    public ArrayView<float> Logits;
    public int Vocabulary;
    /// <summary>Bit i % 32 of word i / 32: id i may be chosen at all (the tokenizer can decode it).</summary>
    public ArrayView<uint> Allowed;
    /// <summary>Bit i: id i takes part in the selection (allowed and not repetition-penalized; the penalized allowed ids
    /// are reported apart with their raw logits, for the host to penalize).</summary>
    public ArrayView<uint> Eligible;
    /// <summary>The rank of the threshold: the K-th largest eligible logit (K ≥ 1).</summary>
    public int K;
    /// <summary>How many positions of the float order below the threshold the candidates reach (room for values the
    /// host's temperature rounds onto the threshold).</summary>
    public int MarginKeys;
    public int Capacity, PenalizedCapacity;
    /// <summary><see cref="LogitCandidatesKernel.OutputLength"/> ints, laid out as that method says.</summary>
    public ArrayView<int> Output;
}

/// <summary>
/// Reduces a row of logits to what the host's sampling pipeline needs when it keeps only the top K (top-k is on):
/// every eligible id whose logit is at least the K-th largest eligible logit less a small margin, with its logit,
/// plus the logits of the allowed ids excluded from the selection (the repetition-penalized ones). Exact comparisons
/// only — the host applies the penalty, the temperature and the rest to these values as it would to the whole row —
/// so a step reads back a few KB instead of the 600 KB row and the host's work no longer scales with the vocabulary.
/// <para>One group per row. Logits are compared as order-preserving unsigned keys (sign bit flipped for positives,
/// every bit for negatives; −∞ is the lowest key in use, NaN and ineligible ids get key 0, never selected). A radix
/// select of four 8-bit passes finds the K-th largest key: each pass histograms the next byte of the keys that share
/// the bytes found so far, and one thread walks the 256 counts from the top. A last pass writes the candidates
/// (slots taken with a shared atomic counter, so in no particular order), the penalized ids, and counts the allowed
/// NaN logits (whose order the host's pipeline defines, so the host takes the whole row then).</para>
/// </summary>
public static class LogitCandidatesKernel
{
    public const int GroupSize = 256;

    /// <summary>Output: [0] candidates found (may exceed Capacity: then only Capacity were written), [1] penalized ids
    /// found (likewise), [2] allowed NaN logits, [3] the lowest key taken (1: every eligible id with a number, also
    /// when the margin reaches down to −∞), then Capacity candidate ids, Capacity candidate logits (float bits),
    /// PenalizedCapacity ids, PenalizedCapacity logits.</summary>
    public static int OutputLength(int capacity, int penalizedCapacity) => Header + 2 * capacity + 2 * penalizedCapacity;

    public const int Header = 4;

    /// <summary>The lowest key a number has (−∞'s).</summary>
    public const uint NegativeInfinityKey = 0x007F_FFFFu;

    /// <summary>The order-preserving key of a float (larger float, larger key; −0 just below +0).</summary>
    public static uint Key(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }

    /// <summary>The float of an order-preserving key.</summary>
    public static float Value(uint key) => Interop.IntAsFloat((key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key);

    private static bool Bit(ArrayView<uint> mask, int id) => ((mask[id >> 5] >> (id & 31)) & 1u) != 0;

    /// <summary>The selection key of id <paramref name="id"/>: 0 when it is not eligible or NaN.</summary>
    private static uint SelectionKey(LogitCandidatesArgs a, int id)
    {
        float value = a.Logits[id];
        return Bit(a.Eligible, id) && !XMath.IsNaN(value) ? Key(value) : 0u;
    }

    public static void Kernel(LogitCandidatesArgs a)
    {
        var histogram = SharedMemory.Allocate<int>(256);
        // [0] prefix of the K-th key found so far, [1] how many keys with that prefix still rank above it (+1),
        // [2] 1 while the K-th key exists, [3..5] output counters.
        var state = SharedMemory.Allocate<uint>(6);
        int t = Group.IdxX;
        if (t == 0)
        {
            state[0] = 0;
            state[1] = (uint)a.K;
            state[2] = 1;
            state[3] = 0; state[4] = 0; state[5] = 0;
        }

        uint prefixMask = 0;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            for (int b = t; b < 256; b += GroupSize) histogram[b] = 0;
            Group.Barrier();
            uint prefix = state[0];
            bool searching = state[2] != 0;
            if (searching)
                for (int id = t; id < a.Vocabulary; id += GroupSize)
                {
                    uint key = SelectionKey(a, id);
                    if (key != 0 && (key & prefixMask) == prefix) Atomic.Add(ref histogram[(int)((key >> shift) & 255)], 1);
                }
            Group.Barrier();
            if (t == 0 && searching)
            {
                // The digit where the count from the top first reaches the rank still needed.
                int need = (int)state[1], above = 0, digit = -1;
                for (int b = 255; b >= 0 && digit < 0; b--)
                {
                    if (above + histogram[b] >= need) digit = b;
                    else above += histogram[b];
                }
                if (digit < 0) state[2] = 0; // fewer than K eligible numbers: every one is a candidate
                else
                {
                    state[0] = prefix | ((uint)digit << shift);
                    state[1] = (uint)(need - above);
                }
            }
            Group.Barrier();
            prefixMask |= 255u << shift;
        }

        // Every number's key is at least −∞'s: a threshold that reaches that far leaves no eligible number out (1).
        uint kth = state[0];
        uint low = state[2] == 0 || kth <= NegativeInfinityKey + (uint)a.MarginKeys ? 1u : kth - (uint)a.MarginKeys;
        int candidates = LogitCandidatesKernel.Header, penalized = candidates + 2 * a.Capacity;
        for (int id = t; id < a.Vocabulary; id += GroupSize)
        {
            if (!Bit(a.Allowed, id)) continue;
            float value = a.Logits[id];
            if (XMath.IsNaN(value)) Atomic.Add(ref state[5], 1u);
            else if (Bit(a.Eligible, id))
            {
                if (Key(value) < low) continue;
                int slot = (int)Atomic.Add(ref state[3], 1u);
                if (slot < a.Capacity)
                {
                    a.Output[candidates + slot] = id;
                    a.Output[candidates + a.Capacity + slot] = (int)Interop.FloatAsInt(value);
                }
            }
            else
            {
                int slot = (int)Atomic.Add(ref state[4], 1u);
                if (slot < a.PenalizedCapacity)
                {
                    a.Output[penalized + slot] = id;
                    a.Output[penalized + a.PenalizedCapacity + slot] = (int)Interop.FloatAsInt(value);
                }
            }
        }
        Group.Barrier();
        if (t == 0)
        {
            a.Output[0] = (int)state[3];
            a.Output[1] = (int)state[4];
            a.Output[2] = (int)state[5];
            a.Output[3] = (int)low;
        }
    }
}
