using System.Diagnostics;
using System.Globalization;

namespace MiniCPM.Engine.Benchmarking;

/// <summary>Figures a benchmark records beside its speeds: peak resident memory and the machine's load.</summary>
public static class ProcessStats
{
    /// <summary>
    /// Peak resident set size of this process in bytes: VmHWM from /proc/self/status on Linux (mapped file pages
    /// that were touched count, which is the point: it shows whether weights were copied besides being mapped),
    /// else <see cref="Process.PeakWorkingSet64"/>.
    /// </summary>
    public static long PeakResidentBytes()
    {
        long? kib = ReadStatusKib("VmHWM:");
        if (kib is { } value) return value * 1024;
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    /// <summary>Current resident set size in bytes (VmRSS), or <see cref="Process.WorkingSet64"/> off Linux.</summary>
    public static long ResidentBytes()
    {
        long? kib = ReadStatusKib("VmRSS:");
        if (kib is { } value) return value * 1024;
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg, as `uptime` prints them), or null elsewhere.</summary>
    public static double[]? LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Take(3).Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static long? ReadStatusKib(string key)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(key.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }
}
