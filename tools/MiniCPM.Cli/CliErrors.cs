using MiniCPM.Engine.Errors;
using MiniCPM.Loaders;

namespace MiniCPM.Cli;

/// <summary>Turns the engine's typed errors into one clear line and an exit code, so no command shows a stack trace.</summary>
internal static class CliErrors
{
    public static int Guard(string command, TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ModelFormatException or MiniCpmException or FormatException or IOException)
        {
            error.WriteLine($"minicpm {command}: {e.Message}");
            return 1;
        }
        catch (ArgumentException e)
        {
            // Out-of-range generation settings (temperature ≤ 0, top-p outside (0, 1], …).
            error.WriteLine($"minicpm {command}: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine($"minicpm {command}: cancelled");
            return 130;
        }
    }
}
