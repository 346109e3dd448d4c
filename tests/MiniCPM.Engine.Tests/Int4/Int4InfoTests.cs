using MiniCPM.Engine.Tests.Cli;

namespace MiniCPM.Engine.Tests.Int4;

/// <summary>`minicpm info` on an HF int4 folder names the scheme and counts the int4 linears.</summary>
public sealed class Int4InfoTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("nf4", "quantized:  bitsandbytes 4-bit nf4, double-quantized scales", "int4 14: NF4 block 64, scales 8-bit per 256, bfloat16")]
    [InlineData("gptq-sym-g64", "quantized:  GPTQ 4-bit, group size 64, symmetric, gptq (zero − 1 stored) format", "int4 14: GPTQ 4-bit, groups of 64 inputs, zero offset 1")]
    public void ShowsTheQuantization(string layout, string scheme, string family)
    {
        Int4CheckpointTests.Write(layout, _dir);
        var (code, output, error) = CliRun.Run("info", _dir);
        Assert.True(code == 0, error);
        Assert.Contains(scheme, output);
        Assert.Contains(family, output);
        Assert.Contains("0 not recognised", output);
    }
}
