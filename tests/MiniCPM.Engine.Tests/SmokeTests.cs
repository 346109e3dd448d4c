namespace MiniCPM.Engine.Tests;

public class SmokeTests
{
    [Fact]
    public void EngineVersionIsKnown() => Assert.False(string.IsNullOrEmpty(MiniCPM.Engine.EngineInfo.Version));
}
