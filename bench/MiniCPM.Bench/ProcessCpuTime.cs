using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MiniCPM.Bench;

/// <summary>
/// CPU time consumed by this process (all threads), in seconds, with nanosecond resolution on Linux
/// (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)); elsewhere <see cref="Process.TotalProcessorTime"/>. On a machine other
/// jobs load, bytes ÷ CPU time still tells how fast a kernel runs while it runs, where wall time does not.
/// </summary>
internal static partial class ProcessCpuTime
{
    private const int ClockProcessCpuTimeId = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static double Seconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(ClockProcessCpuTimeId, out TimeSpec t) == 0)
            return t.Seconds + t.Nanoseconds * 1e-9;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }
}
