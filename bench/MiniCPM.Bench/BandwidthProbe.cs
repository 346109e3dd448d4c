using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Bench;

/// <summary>
/// Read-only streaming sum over a buffer far larger than any cache: the machine's attainable read bandwidth, the
/// ceiling a memory-bound matrix-vector product can approach.
/// </summary>
internal sealed unsafe class BandwidthProbe : IDisposable
{
    public const long DefaultBytes = 512L << 20;

    public BandwidthProbe(long bytes = DefaultBytes)
    {
        Bytes = bytes / 256 * 256;
        Data = (float*)NativeMemory.AlignedAlloc((nuint)Bytes, 64);
        new Span<byte>(Data, 1).Clear();
        for (long i = 0; i < Bytes / sizeof(float); i += 1024) Data[i] = 1; // touch every page
    }

    public long Bytes { get; }
    public float* Data { get; private set; }

    public float Run(CpuThreadPool pool)
    {
        int blocks = (int)(Bytes / BlockBytes);
        var partial = stackalloc float[blocks];
        pool.For(blocks, new SumBlocks(Data, partial));
        float total = 0;
        for (int i = 0; i < blocks; i++) total += partial[i];
        return total;
    }

    private const int BlockBytes = 1 << 20;

    private readonly struct SumBlocks(float* data, float* partial) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int b = start; b < end; b++)
            {
                // Four streams at once, as the 4-row matvec kernel reads: one stream alone leaves memory-level
                // parallelism unused and under-states what the hardware delivers.
                const int quarter = BlockBytes / sizeof(float) / 4;
                float* p = data + (long)b * (BlockBytes / sizeof(float));
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < quarter; i += 16)
                {
                    a0 += Vector512.LoadAligned(p + i);
                    a1 += Vector512.LoadAligned(p + quarter + i);
                    a2 += Vector512.LoadAligned(p + 2 * quarter + i);
                    a3 += Vector512.LoadAligned(p + 3 * quarter + i);
                }
                partial[b] = Vector512.Sum((a0 + a1) + (a2 + a3));
            }
        }
    }

    public void Dispose()
    {
        if (Data != null) NativeMemory.AlignedFree(Data);
        Data = null;
    }
}
