using MiniCPM.Cli;

namespace MiniCPM.Engine.Tests.Cli;

/// <summary>Runs `minicpm` in-process with captured output: (exit code, standard output, standard error).</summary>
internal static class CliRun
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
