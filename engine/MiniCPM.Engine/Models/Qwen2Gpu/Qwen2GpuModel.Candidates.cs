using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// Sampled decoding reads back a step's top-k candidates instead of its 600 KB logits row: after the usual one-token
/// pass (a replayed graph), <see cref="LogitCandidatesKernel"/> ranks the row on the device and one copy of a few KB
/// brings the candidates back. The row stays on the device for <see cref="LastLogits"/>.
/// </summary>
public sealed partial class Qwen2GpuModel : ILogitCandidateSource
{
    private LogitCandidateBuffers? _candidates;

    /// <summary>Whether generation may use <see cref="FeedForCandidates"/> (default on; off: every step reads back its
    /// whole row, as benchmarks and tests compare).</summary>
    public bool LogitCandidates { get; set; } = true;

    /// <summary>Steps <see cref="FeedForCandidates"/> has run.</summary>
    public long CandidateSteps { get; private set; }

    /// <inheritdoc/>
    public int MaxCandidateRank => LogitCandidates ? LogitCandidateBuffers.MaxK : 0;

    /// <inheritdoc/>
    public LogitCandidates FeedForCandidates(SequenceId sequence, int token, LogitCandidateQuery query)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(query);
        if (query.K < 1 || query.K > LogitCandidateBuffers.MaxK)
            throw new ArgumentOutOfRangeException(nameof(query), query.K, $"the top-k rank must be 1 … {LogitCandidateBuffers.MaxK}");
        // The masks go up before the pass is queued: an upload waits for the stream, and the pass need not finish first.
        LogitCandidateBuffers c;
        Scratch s;
        try
        {
            c = _candidates ??= _device.AllOrNothing(() => new LogitCandidateBuffers(_device, VocabularySize), outlivesOuterScopes: true);
            c.SetMasks(query.Allowed, query.Penalized);
            s = Pass([new ForwardRequest { Sequence = sequence, Tokens = new[] { token } }]);
        }
        catch (GpuAllocationException e)
        {
            throw PassOutOfMemory(e, 1);
        }
        _device.Kernels.LogitCandidates(new LogitCandidatesArgs
        {
            Logits = s.Logits!.View, Vocabulary = VocabularySize, Allowed = c.Allowed, Eligible = c.Eligible,
            K = query.K, MarginKeys = query.MarginKeys, Capacity = LogitCandidateBuffers.Capacity,
            PenalizedCapacity = LogitCandidateBuffers.PenalizedCapacity, Output = c.Output,
        });
        CandidateSteps++;
        return c.Read();
    }

    /// <inheritdoc/>
    public float[] LastLogits()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var s = _scratch is { Logits: not null } scratch ? scratch
            : throw new InvalidOperationException("no logits to read: no pass has run, or the last one was refused");
        var request = new ForwardRequest { Sequence = default, Tokens = new[] { 0 } }; // stands for the pass's one row
        CopyLogits([request], s);
        return request.Logits!;
    }
}
