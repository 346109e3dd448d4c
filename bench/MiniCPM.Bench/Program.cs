using BenchmarkDotNet.Running;

namespace MiniCPM.Bench;

public static class Program
{
    /// <summary>`bandwidth [repeats]`: quick Stopwatch table; anything else goes to BenchmarkDotNet's switcher.</summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "bandwidth")
        {
            QuickBandwidth.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "int4") { QuickInt4.Run(args); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
