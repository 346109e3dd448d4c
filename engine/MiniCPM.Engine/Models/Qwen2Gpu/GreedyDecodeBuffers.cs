using System.Collections.Immutable;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// The device memory of <see cref="Qwen2GpuModel"/>'s greedy decoding, allocated once per model so that captured
/// decode graphs can bake the addresses in: the mask of ids that may be chosen (one bit per id), the argmax's partial
/// results, and the record of a window's chosen ids (<see cref="DecodeAdvanceArgs.Record"/>).
/// </summary>
internal sealed class GreedyDecodeBuffers : IDisposable
{
    private readonly AllowedIdMask _mask;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _record;

    public GreedyDecodeBuffers(GpuDevice device, int vocabulary, int window)
    {
        Window = window;
        _mask = new AllowedIdMask(device, vocabulary);
        _record = device.Allocate<int>(2 + window);
        ArgMax = new ArgMaxScratch(device, 1, vocabulary);
    }

    /// <summary>Most steps one window records.</summary>
    public int Window { get; }

    public ArrayView<uint> Mask => _mask.View;
    public ArrayView<int> Record => _record.View;
    public ArgMaxScratch ArgMax { get; }

    /// <summary>Uploads the mask of <paramref name="allowed"/> (default: every id) unless it is on the device already.</summary>
    public void SetMask(ImmutableArray<bool> allowed) => _mask.Set(allowed);

    /// <summary>Starts a window's record: no steps yet, slots reserved below <paramref name="reservedPositions"/>.</summary>
    public void StartRecord(int reservedPositions) => _record.View.SubView(0, 2).CopyFromCPU([0, reservedPositions]);

    /// <summary>The ids the window's <paramref name="steps"/> steps chose (waits for them).</summary>
    public int[] ReadRecord(int steps)
    {
        var ids = new int[steps];
        _record.View.SubView(2, steps).CopyToCPU(ids);
        return ids;
    }

    public void Dispose()
    {
        _mask.Dispose();
        _record.Dispose();
        ArgMax.Dispose();
    }
}
