namespace MiniCPM.Kernels.Cpu;

/// <summary>Runs a per-row operation over many rows, on the pool when one is given and there is more than one row.</summary>
internal static class RowJobs
{
    public static void Run<TJob>(int rows, TJob job, CpuThreadPool? pool) where TJob : unmanaged, IRangeJob
    {
        if (pool is null || rows < 2) job.Execute(0, rows);
        else pool.For(rows, job);
    }
}
