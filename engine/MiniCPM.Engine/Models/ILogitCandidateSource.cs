using System.Collections.Immutable;

namespace MiniCPM.Engine.Models;

/// <summary>
/// A language model that can hand the sampler a decode step's top-k candidates instead of its whole logits row
/// (optional; the GPU decoder implements it): the model keeps the row where it computed it and sends back only the
/// ids that can still be chosen, so a step moves a few KB and the host's work no longer scales with the vocabulary.
/// The candidates are exact logits; the host applies its pipeline to them and gets the choice it would get from the
/// whole row, or finds that it cannot be sure and asks for the row (<see cref="LastLogits"/>).
/// </summary>
public interface ILogitCandidateSource : ILanguageModel
{
    /// <summary>
    /// Feeds <paramref name="token"/> to <paramref name="sequence"/> (one decode step, as <see cref="ILanguageModel.Forward"/>
    /// with that one token) and returns the candidates of the new logits row.
    /// </summary>
    LogitCandidates FeedForCandidates(SequenceId sequence, int token, LogitCandidateQuery query);

    /// <summary>The whole logits row of the last <see cref="FeedForCandidates"/> (valid until the model's next pass).</summary>
    float[] LastLogits();

    /// <summary>The largest top-k rank <see cref="FeedForCandidates"/> takes; 0 while the model does not offer
    /// candidates (e.g. switched off).</summary>
    int MaxCandidateRank { get; }
}

/// <summary>What a step's candidates must cover.</summary>
/// <param name="K">The top-k rank: every eligible id whose logit is at least the K-th largest eligible logit is a candidate.</param>
/// <param name="Allowed">Per id, whether it may be chosen at all (default: every id).</param>
/// <param name="Penalized">Ids left out of the ranking and reported with their raw logits (the repetition-penalized
/// ones, which the host scales itself); may repeat ids.</param>
/// <param name="MarginKeys">How many float steps below the K-th logit the candidates reach (room for values the host's
/// temperature rounds onto the K-th).</param>
public sealed record LogitCandidateQuery(int K, ImmutableArray<bool> Allowed, IReadOnlyList<int> Penalized, int MarginKeys = 64);

/// <summary>
/// A step's candidates, each list in ascending id order: <see cref="Ids"/> with their logits, then the allowed
/// penalized ids with their raw logits. <see cref="Lowest"/>: every eligible id whose logit is below it was left out
/// (null: none was). <see cref="Complete"/> is false when the model could not give a faithful set (more candidates
/// than it holds, or a NaN logit among the allowed ids, whose place in the order only the whole row defines).
/// </summary>
public sealed record LogitCandidates(int[] Ids, float[] Logits, int[] PenalizedIds, float[] PenalizedLogits, float? Lowest, bool Complete);
