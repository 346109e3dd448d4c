using BenchmarkDotNet.Running;

namespace MiniCPM.Bench;

public static class Program
{
    /// <summary>`bandwidth [repeats]`, `vision-slice [runs] [f16|bf16] [threads]`, `audio-rtf [threads] [seconds …]`: quick Stopwatch tables; anything else goes to BenchmarkDotNet's switcher.</summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "bandwidth")
        {
            QuickBandwidth.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "vision-slice")
        {
            VisionSliceBench.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "audio-rtf")
        {
            AudioRealTimeFactor.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "encoder-ops") { EncoderLayerProfile.Run(args); return; }
        if (args.Length > 0 && args[0] == "int4") { QuickInt4.Run(args); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
