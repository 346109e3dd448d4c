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
            // Four streams at once, each a quarter of the thread's whole range, as the matvec kernels read: one stream
            // alone leaves memory-level parallelism unused, and short streams (restarting every block) keep the
            // hardware prefetcher ramping up; either way the probe would under-state what the hardware delivers.
            long quarter = (long)(end - start) * (BlockBytes / sizeof(float)) / 4 / 16 * 16;
            float* p = data + (long)start * (BlockBytes / sizeof(float));
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (long i = 0; i < quarter; i += 16)
            {
                a0 += Vector512.LoadAligned(p + i);
                a1 += Vector512.LoadAligned(p + quarter + i);
                a2 += Vector512.LoadAligned(p + 2 * quarter + i);
                a3 += Vector512.LoadAligned(p + 3 * quarter + i);
            }
            for (int b = start; b < end; b++) partial[b] = 0;
            partial[start] = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
    }

    public void Dispose()
    {
        if (Data != null) NativeMemory.AlignedFree(Data);
        Data = null;
    }
}
