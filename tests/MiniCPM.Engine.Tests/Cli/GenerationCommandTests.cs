using MiniCPM.Cli;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Tests.Api;

namespace MiniCPM.Engine.Tests.Cli;

public sealed class GenerationCommandTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private static (int Code, string Output, string Error) Run(string[] args, string input = "")
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = args[0] == "chat"
            ? ChatCommand.Run(args[1..], new StringReader(input), output, error)
            : CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void GenerateStreamsTheGreedyContinuation()
    {
        var (code, output, error) = Run(["generate", "--model", tiny.Path, "--prompt", "Once upon a time", "--greedy", "--max-tokens", "10", "--threads", "1"]);
        Assert.True(code == 0, error);
        using var model = MiniCpm.Load(tiny.Path, new MiniCpmOptions { Threads = 1 });
        var expected = model.CreateGenerator().Generate(model.Tokenizer.Encode("Once upon a time"), GenerationOptions.Greedy with { MaxNewTokens = 10 });
        Assert.Equal("Once upon a time" + expected.Text + Environment.NewLine, output);
        Assert.Contains($"[finished: {expected.Finish}]", error);
    }

    [Fact]
    public async Task ChatAnswersEachLineAndHonoursResetAndExit()
    {
        var (code, output, error) = Run(["chat", "--model", tiny.Path, "--greedy", "--max-tokens", "5"], "hello\n/reset\nhello\n/exit\nnever read\n");
        Assert.True(code == 0, error);
        using var model = MiniCpm.Load(tiny.Path);
        using var session = model.CreateChat();
        string reply = await session.ReplyAsync("hello", GenerationOptions.MiniCpmSampling with { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 5 });
        // A prompt before each input line; /reset forgot the first turn, so the second reply is the same; /exit ends.
        var nl = Environment.NewLine;
        Assert.Equal($"> {reply}{nl}> > {reply}{nl}> ", output);
    }

    [Fact]
    public void AGpuTooSmallForTheModelIsAClearErrorBeforeAnyUpload()
    {
        // --gpu-memory caps the device (here the simulator) below the tiny model's weights and cache.
        var (code, output, error) = Run(["generate", "--model", tiny.Path, "--prompt", "hi", "--device", "simulator", "--gpu-memory", "64K"]);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("has too little memory for this language model (weights", error);
        Assert.Contains("64.0 KiB is available", error);
        Assert.Contains("--device cpu", error);
    }

    [Theory]
    [InlineData("20G", 20L << 30)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("64KB", 64L << 10)]
    [InlineData("4096", 4096L)]
    [InlineData("4096B", 4096L)]
    [InlineData("20GB", 20L << 30)]
    public void GpuMemorySizesTakeBinarySuffixes(string text, long bytes) =>
        Assert.Equal(bytes, GenerationArguments.ByteCount("--gpu-memory", text));

    [Theory]
    [InlineData("0")]
    [InlineData("-2G")]
    [InlineData("G")]
    [InlineData("twenty")]
    [InlineData("9999999T")]
    [InlineData("NaN")]
    [InlineData("0.5")]
    [InlineData("B")]
    public void GpuMemorySizesThatAreNotSizesAreRefused(string text)
    {
        var e = Assert.Throws<FormatException>(() => GenerationArguments.ByteCount("--gpu-memory", text));
        Assert.Contains("--gpu-memory must be a positive size", e.Message);
    }

    [Fact]
    public void DemoRunsEndToEndWithoutDownloads()
    {
        var (code, output, error) = Run(["demo", "--max-tokens", "8"]);
        Assert.True(code == 0, error);
        Assert.Contains("reply:", output);
        Assert.Contains("8 tokens generated", output);
    }

    [Theory]
    [InlineData("--temperature", "0", 2)]
    [InlineData("--top-p", "1.5", 2)]
    [InlineData("--max-tokens", "-3", 2)]
    public void BadSettingsAreRejectedWithUsageErrors(string option, string value, int expectedCode)
    {
        var (code, _, error) = Run(["generate", "--model", tiny.Path, "--prompt", "x", option, value]);
        Assert.Equal(expectedCode, code);
        Assert.StartsWith("minicpm generate:", error);
    }

    [Fact]
    public void PromptLongerThanTheCacheIsAClearError()
    {
        var (code, _, error) = Run(["generate", "--model", tiny.Path, "--prompt", string.Join(' ', Enumerable.Repeat("word", 400)), "--kv-tokens", "64"]);
        Assert.Equal(1, code);
        Assert.StartsWith("minicpm generate:", error);
    }
}
