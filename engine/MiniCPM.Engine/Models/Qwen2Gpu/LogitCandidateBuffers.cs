using System.Collections.Immutable;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// The device memory of <see cref="Qwen2GpuModel.FeedForCandidates"/>: the allowed-id mask (uploaded when the allowed
/// array changes), the eligible-id mask (the allowed ids less the penalized ones, uploaded each step: one bit per id)
/// and the candidates' output, read back in one copy.
/// </summary>
internal sealed class LogitCandidateBuffers : IDisposable
{
    /// <summary>Most candidates a step holds; the top-k rank may be at most half of it, leaving room for ties.</summary>
    public const int Capacity = 1024;
    public const int MaxK = Capacity / 2;
    /// <summary>Most penalized ids a step reports (distinct ids generated so far).</summary>
    public const int PenalizedCapacity = 4096;

    private readonly AllowedIdMask _allowed;
    private readonly MemoryBuffer1D<uint, Stride1D.Dense> _eligible;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _output;
    private readonly int _vocabulary;
    private readonly int[] _host = new int[LogitCandidatesKernel.OutputLength(Capacity, PenalizedCapacity)];

    public LogitCandidateBuffers(GpuDevice device, int vocabulary)
    {
        _vocabulary = vocabulary;
        _allowed = new AllowedIdMask(device, vocabulary);
        _eligible = device.Allocate<uint>((vocabulary + 31) / 32);
        _output = device.Allocate<int>(_host.Length);
    }

    public ArrayView<uint> Allowed => _allowed.View;
    public ArrayView<uint> Eligible => _eligible.View;
    public ArrayView<int> Output => _output.View;

    /// <summary>Uploads the allowed mask (unless it is on the device already) and the eligible mask: allowed, less
    /// <paramref name="penalized"/>.</summary>
    public void SetMasks(ImmutableArray<bool> allowed, IReadOnlyList<int> penalized)
    {
        _allowed.Set(allowed);
        var eligible = (uint[])_allowed.HostWords.Clone();
        foreach (int id in penalized)
            if ((uint)id < (uint)_vocabulary) eligible[id >> 5] &= ~(1u << (id & 31));
        _eligible.View.CopyFromCPU(eligible);
    }

    /// <summary>Reads the kernel's output back (waits for it) and parses it; lists come back in ascending id order.</summary>
    public LogitCandidates Read()
    {
        ((ArrayView<int>)_output.View).CopyToCPU(_host.AsSpan());
        int found = _host[0], penalized = _host[1], nans = _host[2];
        uint lowest = (uint)_host[3];
        bool complete = found <= Capacity && penalized <= PenalizedCapacity && nans == 0;
        var (ids, logits) = Pairs(LogitCandidatesKernel.Header, Capacity, Math.Min(found, Capacity));
        var (penalizedIds, penalizedLogits) = Pairs(LogitCandidatesKernel.Header + 2 * Capacity, PenalizedCapacity, Math.Min(penalized, PenalizedCapacity));
        return new LogitCandidates(ids, logits, penalizedIds, penalizedLogits,
            lowest <= 1 ? null : LogitCandidatesKernel.Value(lowest), complete);
    }

    private (int[] Ids, float[] Logits) Pairs(int start, int capacity, int count)
    {
        var ids = _host.AsSpan(start, count).ToArray();
        var logits = new float[count];
        for (int j = 0; j < count; j++) logits[j] = BitConverter.Int32BitsToSingle(_host[start + capacity + j]);
        Array.Sort(ids, logits); // slots were taken in no particular order
        return (ids, logits);
    }

    public void Dispose()
    {
        _allowed.Dispose();
        _eligible.Dispose();
        _output.Dispose();
    }
}
