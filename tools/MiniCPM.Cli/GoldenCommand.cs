using System.Globalization;
using MiniCPM.Engine.Golden;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm golden CASE_DIR [--threads N]`: runs a golden case folder and prints one line per tensor (name, max abs
/// error, pass/FAIL, or skipped/input), then `golden: N passed, M failed`. Exit 0 only when nothing failed and the
/// case type is supported.
/// </summary>
internal static class GoldenCommand
{
    public const string Usage = "usage: minicpm golden <case-dir> [--threads N] [--device cpu|cuda[:N]|opencl[:N]|simulator]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? directory = null;
        var options = new GoldenRunOptions();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--threads" && i + 1 < args.Length && int.TryParse(args[i + 1], out int threads) && threads > 0)
            {
                options = options with { Threads = threads };
                i++;
            }
            else if (args[i] == "--device" && i + 1 < args.Length) options = options with { Device = args[++i] };
            else if (!args[i].StartsWith('-') && directory is null) directory = args[i];
            else return Fail(error, $"unexpected argument '{args[i]}'");
        }
        if (directory is null) return Fail(error, "a case folder is required");

        GoldenReport report;
        try
        {
            report = GoldenRunner.Run(directory, options);
        }
        catch (Exception e) when (e is GoldenCaseException or ModelFormatException or IOException or Engine.Errors.MiniCpmException)
        {
            error.WriteLine($"minicpm golden: {e.Message}");
            return 1;
        }

        output.WriteLine($"case: {report.CaseType} ({Path.GetFullPath(directory)})");
        if (!report.Supported)
        {
            output.WriteLine($"unsupported case type '{report.CaseType}'");
            output.WriteLine("golden: 0 passed, 0 failed");
            return 3;
        }
        int width = Math.Max(8, report.Results.Max(r => r.Name.Length));
        foreach (var r in report.Results)
            output.WriteLine(r.Status switch
            {
                GoldenStatus.Input => $"{r.Name.PadRight(width)}  input",
                GoldenStatus.Skipped => $"{r.Name.PadRight(width)}  skipped ({r.Detail})",
                _ => $"{r.Name.PadRight(width)}  max_abs_err {r.MaxAbsError.ToString("0.000e+00", CultureInfo.InvariantCulture)}  " +
                     (r.Status == GoldenStatus.Passed ? "pass" : "FAIL") + $"  ({r.Detail})",
            });
        output.WriteLine($"golden: {report.Passed} passed, {report.Failed} failed");
        return report.Failed == 0 ? 0 : 1;
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"minicpm golden: {message}");
        error.WriteLine(Usage);
        return 2;
    }
}
