using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The engine's own worker pool for splitting kernel work (usually output rows) across cores.
/// <para>
/// Why not <see cref="Parallel.For(int,int,Action{int})"/>: a decode step makes hundreds of small calls (tens of
/// microseconds each); persistent workers that spin briefly between calls and claim chunks from one counter start in
/// well under a microsecond and allocate nothing. The calling thread works too, so a pool of N threads owns N−1
/// workers, and a pool of 1 runs everything inline.
/// </para>
/// <para>One caller at a time: the pool belongs to one engine/session thread. Concurrent use throws.</para>
/// </summary>
public sealed unsafe class CpuThreadPool : IDisposable
{
    /// <summary>Chunks per thread when splitting: a few, so a thread that was descheduled does not hold up the rest.</summary>
    private const int ChunksPerThread = 4;

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private readonly long _spinTicks;

    // The current job. Written by the caller before a new generation is published and left untouched until every
    // chunk of that generation has completed, so a worker that has claimed a chunk reads a consistent job.
    private delegate*<void*, int, int, void> _body;
    private void* _job;
    private int _count;
    private int _chunkSize;
    private int _chunkCount;
    private int _completedChunks;
    private Exception? _failure;

    // High 32 bits: generation of the current job; low 32 bits: next chunk to claim. One word, so a worker that
    // wakes late can never claim a chunk of a job it did not see published.
    private long _claim;
    private int _sleepers;
    private int _busy;
    private volatile bool _stopping;

    /// <param name="threadCount">Threads that do work, the caller included; 1 runs every job inline.</param>
    /// <param name="spinMicroseconds">
    /// How long an idle worker keeps polling for the next job before it blocks: long enough to bridge the gaps
    /// between the kernels of one decode step, short enough not to burn a core between requests.
    /// </param>
    public CpuThreadPool(int threadCount, int spinMicroseconds = 200)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(spinMicroseconds);
        ThreadCount = threadCount;
        _spinTicks = spinMicroseconds * Stopwatch.Frequency / 1_000_000;
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"MiniCPM CPU worker {i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>A pool with one thread per logical processor.</summary>
    public static CpuThreadPool ForAllCores() => new(Environment.ProcessorCount);

    public int ThreadCount { get; }

    /// <summary>
    /// Runs <paramref name="job"/> over [0, <paramref name="count"/>) split into chunks whose sizes are multiples of
    /// <paramref name="grain"/> (the last one may be shorter), and returns when all are done.
    /// </summary>
    public void For<TJob>(int count, TJob job, int grain = 1) where TJob : unmanaged, IRangeJob
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(grain, 1);
        if (count <= 0) return;

        int grains = (count + grain - 1) / grain;
        int chunkGrains = Math.Max(1, grains / (ThreadCount * ChunksPerThread));
        int chunkSize = chunkGrains * grain;
        int chunkCount = (count + chunkSize - 1) / chunkSize;
        if (_workers.Length == 0 || chunkCount == 1)
        {
            job.Execute(0, count);
            return;
        }

        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("a CpuThreadPool runs one job at a time; it was called from two threads at once");
        try
        {
            _body = &Invoke<TJob>;
            _job = &job; // the job lives in this frame until every chunk is done
            _count = count;
            _chunkSize = chunkSize;
            _chunkCount = chunkCount;
            _completedChunks = 0;
            _failure = null;

            int generation = (int)(Volatile.Read(ref _claim) >> 32) + 1;
            Interlocked.Exchange(ref _claim, (long)generation << 32); // full fence: publishes the job above
            if (Volatile.Read(ref _sleepers) != 0)
                lock (_gate) Monitor.PulseAll(_gate);

            RunChunks(generation);
            var spin = new SpinWait();
            while (Volatile.Read(ref _completedChunks) != chunkCount)
                spin.SpinOnce(sleep1Threshold: -1);

            _body = null;
            _job = null;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
        if (_failure is { } failure) ExceptionDispatchInfo.Throw(failure);
    }

    private static void Invoke<TJob>(void* job, int start, int end) where TJob : unmanaged, IRangeJob =>
        ((TJob*)job)->Execute(start, end);

    private void RunChunks(int generation)
    {
        while (true)
        {
            long claim = Volatile.Read(ref _claim);
            if ((int)(claim >> 32) != generation) return;
            int chunk = (int)claim;
            if (chunk >= _chunkCount) return;
            if (Interlocked.CompareExchange(ref _claim, claim + 1, claim) != claim) continue;

            int start = chunk * _chunkSize;
            int end = Math.Min(_count, start + _chunkSize);
            try
            {
                _body(_job, start, end);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            Interlocked.Increment(ref _completedChunks);
        }
    }

    private void WorkerLoop()
    {
        int seen = 0;
        while (true)
        {
            int generation = WaitForNextGeneration(seen);
            if (_stopping) return;
            seen = generation;
            RunChunks(generation);
        }
    }

    private int WaitForNextGeneration(int seen)
    {
        long spinUntil = Stopwatch.GetTimestamp() + _spinTicks;
        var spin = new SpinWait();
        while (true)
        {
            int generation = (int)(Volatile.Read(ref _claim) >> 32);
            if (generation != seen || _stopping) return generation;
            if (Stopwatch.GetTimestamp() > spinUntil) break;
            spin.SpinOnce(sleep1Threshold: -1);
        }

        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers); // full fence: pairs with the publisher's exchange of _claim
            try
            {
                while (true)
                {
                    int generation = (int)(Volatile.Read(ref _claim) >> 32);
                    if (generation != seen || _stopping) return generation;
                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        lock (_gate) Monitor.PulseAll(_gate);
        foreach (var worker in _workers) worker.Join();
    }
}
