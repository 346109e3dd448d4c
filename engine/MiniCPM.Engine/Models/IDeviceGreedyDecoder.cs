using System.Collections.Immutable;

namespace MiniCPM.Engine.Models;

/// <summary>
/// A language model that can continue a sequence by greedy decoding on its own device: each step's argmax becomes the
/// next step's input there, and the host sees the chosen ids a window of steps at a time instead of a logits row per
/// step. Optional (the GPU decoder implements it); generation takes it for greedy decoding when nothing needs the
/// logits on the host. The choice is the host's greedy choice: the highest logit among the allowed ids, ties to the
/// lowest id, NaN never chosen.
/// </summary>
public interface IDeviceGreedyDecoder : ILanguageModel
{
    /// <summary>
    /// Feeds <paramref name="token"/> to <paramref name="sequence"/> and decodes on greedily, up to
    /// <paramref name="maxSteps"/> steps (fewer when the model's window or the context is shorter) without waiting on
    /// the host, then hands the chosen ids to <paramref name="accept"/> in order, which returns whether decoding goes on
    /// past the id. The last id handed out is never in the sequence: afterwards it holds what it held,
    /// <paramref name="token"/>, and every id handed out before the last one — exactly what feeding them one by one
    /// leaves. When accept returned true for the last one, it is the next call's token.
    /// </summary>
    /// <param name="allowed">Per id, whether it may be chosen (ids past its length may not); default: every id. The
    /// model may keep a device copy keyed by the array.</param>
    /// <returns>How many ids were handed to <paramref name="accept"/> (at least one).</returns>
    /// <exception cref="Errors.ContextOverflowException">No room in the sequence for <paramref name="token"/>.</exception>
    /// <exception cref="Errors.TokenOutOfRangeException"><paramref name="token"/>, or an id accept let through, is
    /// outside the embedding table; the sequence holds what feeding stopped before.</exception>
    /// <exception cref="InvalidOperationException">A step had nothing to choose (every allowed logit −∞ or NaN, or id
    /// 0's NaN, as the host's argmax fails); the ids before it were handed out and accepted, and the sequence holds them
    /// all.</exception>
    int DecodeGreedy(SequenceId sequence, int token, ImmutableArray<bool> allowed, int maxSteps, Func<int, bool> accept);
}
