namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A piece of work over an index range that <see cref="CpuThreadPool"/> splits across threads. Implement it as a small
/// unmanaged struct (pointers and sizes) so a parallel call allocates nothing; the pool runs
/// <see cref="Execute"/> on disjoint sub-ranges that together cover [0, count).
/// </summary>
public interface IRangeJob
{
    void Execute(int start, int end);
}
