namespace MiniCPM.Engine.Tests.Cli;

public class DevicesCommandTests
{
    /// <summary>The CPU backend always, then for CUDA and for OpenCL either devices (each usable or with its reason) or
    /// a line saying none was found: on this VM no CUDA driver, and at most PoCL's CPU device (refused: OpenCL C 1.2).</summary>
    [Fact]
    public void ListsTheCpuBackendAndAccountsForCudaAndOpenCl()
    {
        var (code, output, error) = CliRun.Run("devices");
        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("cpu ", lines[0]);
        Assert.Contains($"{Environment.ProcessorCount} hardware threads", lines[0]);
        Assert.True(output.Contains("cuda:0 ") || output.Contains("CUDA: "), output);
        Assert.True(output.Contains("opencl:0 ") || output.Contains("OpenCL: "), output);
        // Every device line is followed by its verdict.
        for (int i = 1; i < lines.Length; i++)
            if (lines[i].StartsWith("cuda:", StringComparison.Ordinal) || lines[i].StartsWith("opencl:", StringComparison.Ordinal))
                Assert.Matches(@"^\s+(usable|not usable: .+)$", lines[i + 1].TrimEnd('\r'));
    }

    [Fact]
    public void TakesNoArguments()
    {
        var (code, _, error) = CliRun.Run("devices", "--all");
        Assert.Equal(2, code);
        Assert.Contains("usage: minicpm devices", error);
    }
}
