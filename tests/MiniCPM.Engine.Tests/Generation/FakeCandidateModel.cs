using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>
/// <see cref="FakeLanguageModel"/> that hands out a step's top-k candidates as <see cref="ILogitCandidateSource"/>
/// describes them, selected plainly on the host (sort the eligible logits, take the K-th, keep what is at or above it
/// less the margin); <paramref name="marginOverride"/> replaces the query's margin (0 makes the host's exactness check
/// fall back often). Counts the steps and the whole rows fetched.
/// </summary>
internal sealed class FakeCandidateModel(FakeLanguageModel inner, int? marginOverride = null) : FakeModelWrapper(inner), ILogitCandidateSource
{
    private float[] _last = [];

    public int CandidateSteps { get; private set; }
    public int RowsFetched { get; private set; }

    public int MaxCandidateRank => 512;

    public LogitCandidates FeedForCandidates(SequenceId sequence, int token, LogitCandidateQuery query)
    {
        var request = new ForwardRequest { Sequence = sequence, Tokens = new[] { token } };
        Inner.Forward([request]);
        _last = request.Logits!;
        CandidateSteps++;
        int vocabulary = _last.Length, margin = marginOverride ?? query.MarginKeys;
        bool Allowed(int id) => query.Allowed.IsDefault || (id < query.Allowed.Length && query.Allowed[id]);
        var penalized = query.Penalized.ToHashSet();
        var eligible = Enumerable.Range(0, vocabulary).Where(id => Allowed(id) && !penalized.Contains(id) && !float.IsNaN(_last[id])).ToArray();
        var keys = eligible.Select(id => LogitCandidatesKernel.Key(_last[id])).OrderByDescending(k => k).ToArray();
        uint low = keys.Length < query.K || keys[query.K - 1] <= LogitCandidatesKernel.NegativeInfinityKey + (uint)margin ? 1u : keys[query.K - 1] - (uint)margin;
        var ids = eligible.Where(id => LogitCandidatesKernel.Key(_last[id]) >= low).ToArray();
        var penalizedIds = Enumerable.Range(0, vocabulary).Where(id => Allowed(id) && penalized.Contains(id) && !float.IsNaN(_last[id])).ToArray();
        bool complete = !Enumerable.Range(0, vocabulary).Any(id => Allowed(id) && float.IsNaN(_last[id]));
        return new LogitCandidates(ids, ids.Select(id => _last[id]).ToArray(), penalizedIds, penalizedIds.Select(id => _last[id]).ToArray(),
            low <= 1 ? null : LogitCandidatesKernel.Value(low), complete);
    }

    public float[] LastLogits()
    {
        RowsFetched++;
        return (float[])_last.Clone();
    }
}
