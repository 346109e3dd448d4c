using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed unsafe class ThreadPoolTests
{
    private readonly struct CountVisits(int* visits, int grain, int* misaligned) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            if (start % grain != 0) Interlocked.Increment(ref *misaligned);
            for (int i = start; i < end; i++) Interlocked.Increment(ref visits[i]);
        }
    }

    [Theory]
    [InlineData(1, 1000, 1)]
    [InlineData(2, 1, 1)]
    [InlineData(2, 7, 4)]
    [InlineData(2, 1000, 4)]
    [InlineData(3, 4099, 2)]
    public void EveryIndexRunsExactlyOnceInChunksAlignedToTheGrain(int threads, int count, int grain)
    {
        using var pool = new CpuThreadPool(threads);
        var visits = new int[count];
        int misaligned = 0;
        for (int repeat = 0; repeat < 200; repeat++)
        {
            fixed (int* v = visits)
                pool.For(count, new CountVisits(v, grain, &misaligned), grain);
        }
        Assert.All(visits, n => Assert.Equal(200, n));
        Assert.Equal(0, misaligned);
    }

    private readonly struct Throws : IRangeJob
    {
        public void Execute(int start, int end)
        {
            if (start == 0) throw new InvalidOperationException("boom");
        }
    }

    [Fact]
    public void AnExceptionInAChunkReachesTheCallerAndThePoolStaysUsable()
    {
        using var pool = new CpuThreadPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.For(100, new Throws()));
        var visits = new int[100];
        int misaligned = 0;
        fixed (int* v = visits)
            pool.For(100, new CountVisits(v, 1, &misaligned));
        Assert.All(visits, n => Assert.Equal(1, n));
    }

    [Fact]
    public void WorkersThatFellAsleepWakeForTheNextJob()
    {
        using var pool = new CpuThreadPool(2, spinMicroseconds: 0);
        var visits = new int[64];
        int misaligned = 0;
        for (int repeat = 0; repeat < 50; repeat++)
        {
            if (repeat % 10 == 0) Thread.Sleep(5);
            fixed (int* v = visits)
                pool.For(64, new CountVisits(v, 1, &misaligned));
        }
        Assert.All(visits, n => Assert.Equal(50, n));
    }
}
