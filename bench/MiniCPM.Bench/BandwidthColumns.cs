using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MiniCPM.Bench;

/// <summary>GB/s of bytes read: <see cref="MatVecBenchmarks.BytesRead"/> ÷ mean time.</summary>
public sealed class BandwidthColumn : IColumn
{
    public string Id => "GBps";
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Bytes read per call (weights, or the probe buffer) ÷ mean time, in 10^9 bytes per second";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        Of(summary, benchmarkCase) is { } gbs ? gbs.ToString("F1") : "?";

    internal static double? Of(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null) return null;
        string name = (string)benchmarkCase.Parameters["Case"];
        return MatVecBenchmarks.BytesRead(name) / stats.Mean; // bytes per ns = GB/s
    }
}

/// <summary>This case's GB/s as a percentage of the probe's GB/s at the same thread count, from the same summary.</summary>
public sealed class ProbeRatioColumn : IColumn
{
    public string Id => "ProbeRatio";
    public string ColumnName => "% of probe";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "GB/s ÷ the bandwidth probe's GB/s with the same thread count";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        object threads = benchmarkCase.Parameters["Threads"];
        var probe = summary.BenchmarksCases.FirstOrDefault(c =>
            (string)c.Parameters["Case"] == "probe" && Equals(c.Parameters["Threads"], threads));
        if (probe is null || BandwidthColumn.Of(summary, benchmarkCase) is not { } gbs ||
            BandwidthColumn.Of(summary, probe) is not { } probeGbs) return "?";
        return $"{100 * gbs / probeGbs:F0}%";
    }
}
