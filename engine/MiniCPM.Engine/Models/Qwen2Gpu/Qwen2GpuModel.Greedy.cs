using System.Collections.Immutable;
using MiniCPM.Engine.Errors;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// Greedy decoding that stays on the device. A window of steps is queued at once: the host reserves the cache blocks
/// for all of them and uploads the first step's layout; every step is the usual one-token pass, then the argmax over
/// its logits (written into the pass's token id: the next step's input) and the advance kernel (records the id, moves
/// the position and the cache slot on). Steps replay one captured graph per context bucket, as plain decode does, so
/// the host only launches graphs; the window ends with one copy of its ids and one wait. Tokens computed past where
/// the caller stops leave the cache again (<see cref="DeviceKvCache.Truncate"/>).
/// </summary>
public sealed partial class Qwen2GpuModel : IDeviceGreedyDecoder
{
    private readonly int _greedyWindow;
    private GreedyDecodeBuffers? _greedy;
    private long _eagerGreedySteps;

    /// <summary>The device KV cache (tests check its blocks).</summary>
    internal DeviceKvCache KvCache => _cache;

    /// <summary>Windows <see cref="DecodeGreedy"/> has run (each one host round trip).</summary>
    public long DeviceGreedyWindows { get; private set; }

    /// <summary>Steps <see cref="DecodeGreedy"/> has run on the device, the ones dropped afterwards included.</summary>
    public long DeviceGreedySteps { get; private set; }

    /// <inheritdoc/>
    public int DecodeGreedy(SequenceId sequence, int token, ImmutableArray<bool> allowed, int maxSteps, Func<int, bool> accept)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(accept);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSteps, 1);
        int id = sequence.Value, start = _cache.Length(id); // throws UnknownSequenceException
        var request = new ForwardRequest { Sequence = sequence, Tokens = new[] { token } };
        ForwardRequestCheck.Validate(request, 0, start, MaxSequenceLength, Config.HiddenSize, EmbeddingRows);

        // Never past the context (the window's last step feeds position MaxSequenceLength − 1), nor past the blocks the
        // cache has free: feeding one by one would get that far before failing, so the window does too.
        int steps = Math.Min(Math.Min(maxSteps, _greedyWindow), MaxSequenceLength - start);
        while (steps > 1 && _cache.BlocksNeeded([(id, steps)]) > _cache.FreeBlocks) steps--;
        Scratch s;
        GreedyDecodeBuffers g;
        try
        {
            s = EnsureScratch(1);
            s.EnsureLogits(_device, 1, VocabularySize); // never inside a capture
            g = _greedy ??= _device.AllOrNothing(() => new GreedyDecodeBuffers(_device, VocabularySize, _greedyWindow), outlivesOuterScopes: true);
            s.EnsureTableCapacity(_cache.TableEntriesAfter([(id, steps)]));
        }
        catch (GpuAllocationException e)
        {
            throw PassOutOfMemory(e, 1);
        }
        _cache.Reserve([(id, steps)]); // throws before changing anything when not even one more token fits
        g.SetMask(allowed);

        var table = _cache.BlockTable(id);
        int block = _cache.BlockSize;
        var tiles = new List<int>();
        int tileCount = PrefillAttentionKernel.AddTiles(tiles, 0, 1);
        s.Upload([token], [start], [table[start / block] * block + start % block], [0], tiles.ToArray(), tileCount, table.ToArray());
        g.StartRecord(reservedPositions: start + steps);

        ForwardRequest[] batch = [request];
        for (int step = 0; step < steps; step++)
        {
            int context = start + step + 1;
            if (GreedyGraphEligible) ReplayGraph(s, context, greedy: true, bucket => GreedyStep(batch, s, g, bucket));
            else
            {
                GreedyStep(batch, s, g, context);
                _eagerGreedySteps++;
            }
        }
        _cache.Advance(id, steps);
        DeviceGreedyWindows++;
        DeviceGreedySteps += steps;
        return HandOut(id, start, g.ReadRecord(steps), accept);
    }

    /// <summary>As <see cref="GraphEligible"/>: once a greedy step has run eagerly (its kernels loaded).</summary>
    private bool GreedyGraphEligible => _graphs is not null && CudaGraphs && HiddenStates is null && _eagerGreedySteps > 0;

    /// <summary>One step's kernels: the pass, the argmax into the pass's token id, the advance.</summary>
    private void GreedyStep(ForwardRequest[] batch, Scratch s, GreedyDecodeBuffers g, int attentionContext)
    {
        Launch(batch, 1, [batch[0].Tokens.Span[0]], s, attentionContext);
        var k = _device.Kernels;
        k.ArgMax(s.Logits!.View, 1, VocabularySize, g.Mask, g.ArgMax, s.Ids);
        k.DecodeAdvance(new DecodeAdvanceArgs
        {
            Ids = s.Ids, Positions = s.Positions, Slots = s.Slots, TableStarts = s.TableStarts, Tables = s.Tables,
            Record = g.Record, BlockSize = _cache.BlockSize, EmbeddingRows = EmbeddingRows,
        });
    }

    /// <summary>
    /// Hands the window's ids to <paramref name="accept"/> and cuts the sequence back to what feeding them one by one
    /// would leave: the window fed its token and every id but the last, so stopping at the j-th id (1-based) keeps j.
    /// </summary>
    private int HandOut(int sequence, int start, int[] ids, Func<int, bool> accept)
    {
        int kept = ids.Length;
        try
        {
            for (int j = 1; j <= ids.Length; j++)
            {
                kept = j;
                int chosen = ids[j - 1];
                if (chosen < 0) throw new InvalidOperationException("Every token was filtered out; nothing to choose.");
                if (!accept(chosen)) return j;
                // The device fed id 0 in its place (DecodeAdvanceKernel); feeding it would have failed here.
                if (chosen >= EmbeddingRows) throw new TokenOutOfRangeException(chosen, 0, EmbeddingRows);
            }
            return ids.Length;
        }
        finally
        {
            if (kept < ids.Length) _cache.Truncate(sequence, start + kept);
        }
    }
}
