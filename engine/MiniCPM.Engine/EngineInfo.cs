namespace MiniCPM.Engine;

/// <summary>Version of the engine library.</summary>
public static class EngineInfo
{
    public static string Version => typeof(EngineInfo).Assembly.GetName().Version?.ToString() ?? "0.0.0";
}
