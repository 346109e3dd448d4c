using System.Globalization;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Byte counts for people: "512 B", "3.4 MiB", "14.2 GiB".</summary>
public static class ByteSize
{
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1023.95 && unit < units.Length - 1) // never "1024.0 KiB"
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
