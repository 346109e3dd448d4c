using System.Collections.Immutable;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>
/// <see cref="FakeLanguageModel"/> that "decodes greedily on its device" as <see cref="IDeviceGreedyDecoder"/>
/// describes it: a window of up to <paramref name="window"/> steps fed ahead (each step's argmax over the allowed ids
/// is the next input, id 0 in place of "nothing to choose"), a window cut short where the cache runs out of blocks, then
/// the ids handed out and the sequence cut back to what feeding them one by one leaves.
/// </summary>
internal sealed class FakeDeviceGreedyModel(FakeLanguageModel inner, int window) : FakeModelWrapper(inner), IDeviceGreedyDecoder
{
    /// <summary>Windows run (each a host round trip on a real device).</summary>
    public int Windows { get; private set; }

    public int DecodeGreedy(SequenceId sequence, int token, ImmutableArray<bool> allowed, int maxSteps, Func<int, bool> accept)
    {
        int start = Inner.SequenceLength(sequence);
        int steps = Math.Min(Math.Min(maxSteps, window), Inner.MaxSequenceLength - start);
        var ids = new List<int>();
        int input = token;
        for (int k = 0; k < Math.Max(steps, 1); k++)
        {
            var request = new ForwardRequest { Sequence = sequence, Tokens = new[] { input } };
            try
            {
                Inner.Forward([request]); // the first step's failure is the caller's (nothing changed)
            }
            catch (FakeCacheExhaustedException) when (k > 0)
            {
                break;
            }
            int id = Choose(request.Logits!, allowed);
            ids.Add(id);
            input = id < 0 ? 0 : id;
        }
        Windows++;

        int kept = ids.Count;
        try
        {
            for (int j = 1; j <= ids.Count; j++)
            {
                kept = j;
                if (ids[j - 1] < 0) throw new InvalidOperationException("Every token was filtered out; nothing to choose.");
                if (!accept(ids[j - 1])) return j;
            }
            return ids.Count;
        }
        finally
        {
            if (kept < ids.Count) Inner.Truncate(sequence, start + kept);
        }
    }

    private static int Choose(float[] logits, ImmutableArray<bool> allowed)
    {
        var scores = (float[])logits.Clone();
        if (!allowed.IsDefault)
            for (int i = 0; i < scores.Length; i++)
                if (i >= allowed.Length || !allowed[i]) scores[i] = float.NegativeInfinity;
        try
        {
            return TokenSampler.ArgMax(scores);
        }
        catch (InvalidOperationException)
        {
            return -1;
        }
    }
}
