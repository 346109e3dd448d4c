using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="DecodeAdvanceKernel"/>: row 0 of a decode pass's batch layout and the run's record.</summary>
public struct DecodeAdvanceArgs
{
    /// <summary>Row 0's token id (the chosen id on entry; the next step's input on exit), position, KV cache slot and
    /// where its block table starts in <see cref="Tables"/>.</summary>
    public ArrayView<int> Ids, Positions, Slots, TableStarts, Tables;
    /// <summary>[0]: steps recorded so far; [1]: the first position without a reserved cache slot; [2 …]: the id
    /// chosen at each step.</summary>
    public ArrayView<int> Record;
    public int BlockSize;
    /// <summary>Ids at or past this (and −1, "nothing to choose") are recorded but not fed: the next step reads id 0,
    /// so no pass ever gathers outside the embedding table; the host stops at such an id.</summary>
    public int EmbeddingRows;
}

/// <summary>
/// Moves a one-row decode pass to its next step on the device, so greedy decoding can queue steps without the host:
/// records the id the step chose (<see cref="ArgMaxKernel"/> wrote it into Ids[0]) and makes it the next input,
/// position + 1, and the cache slot of that position from the block table (which already holds the blocks reserved
/// for the run; past them the slot is left as it is — the host never queues a step there). One thread.
/// </summary>
public static class DecodeAdvanceKernel
{
    public static void Kernel(Index1D index, DecodeAdvanceArgs a)
    {
        int id = a.Ids[0];
        int step = a.Record[0];
        if (2 + step < a.Record.Length) a.Record[2 + step] = id;
        a.Record[0] = step + 1;
        if (id < 0 || id >= a.EmbeddingRows) a.Ids[0] = 0;

        int position = a.Positions[0] + 1;
        a.Positions[0] = position;
        if (position < a.Record[1])
            a.Slots[0] = a.Tables[a.TableStarts[0] + position / a.BlockSize] * a.BlockSize + position % a.BlockSize;
    }
}
