using System.Diagnostics;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `vision-slice [runs] [f16|bf16] [threads]`: seconds per 448×448 slice (32×32 = 1024 patches) through MiniCPM-V 2.6's
/// real vision shape — SigLIP-400M (27 layers, 1152 wide, 16 heads, ffn 4304) and the resampler to 3584 with 64
/// queries — with random weights in an mmproj GGUF (F16 like llama.cpp's, or BF16 like the HF checkpoint), written
/// once to the temp folder and memory-mapped. Reports the median and best of the runs after one warm-up, split into
/// encoder and resampler, with the process CPU time per run.
/// </summary>
internal static class VisionSliceBench
{
    public static void Run(string[] args)
    {
        int runs = args.Length > 1 ? int.Parse(args[1]) : 3;
        var type = args.Length > 2 && args[2].Equals("bf16", StringComparison.OrdinalIgnoreCase) ? TensorType.BF16 : TensorType.F16;
        int threads = args.Length > 3 ? int.Parse(args[3]) : 2;
        var spec = SyntheticModelSpec.Preset("minicpmv-2.6-shape");
        string path = Path.Combine(Path.GetTempPath(), $"minicpm-bench-mmproj-{type}.gguf");
        if (!File.Exists(path))
        {
            var write = Stopwatch.StartNew();
            SyntheticModel.WriteVisionProjector(spec, path + ".tmp", type);
            File.Move(path + ".tmp", path, overwrite: true);
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1e6:0} MB) in {write.Elapsed.TotalSeconds:0.0} s");
        }
        Console.WriteLine($"{DateTime.UtcNow:u}, {Environment.ProcessorCount} CPUs, load average before: {LoadAverage()}");

        using var checkpoint = MiniCPM.Engine.Checkpoint.Open(path);
        var encoder = SiglipEncoder.Load(checkpoint);
        var resampler = Resampler.Load(checkpoint);
        using var pool = threads > 1 ? new CpuThreadPool(threads) : null;
        var pixels = new float[3 * 448 * 448];
        var random = new Random(1);
        for (int i = 0; i < pixels.Length; i++) pixels[i] = random.NextSingle() * 2 - 1;
        var slice = new VisionSlice(pixels, 448, 448);

        var encoderSeconds = new List<double>();
        var resamplerSeconds = new List<double>();
        var cpuSeconds = new List<double>();
        for (int run = 0; run <= runs; run++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var features = encoder.Encode(slice, pool);
            double encoded = clock.Elapsed.TotalSeconds;
            var rows = resampler.Apply(features, 32, 32, pool);
            double total = clock.Elapsed.TotalSeconds;
            double cpuUsed = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            if (rows.Length != 64 * 3584 || !float.IsFinite(rows[0])) throw new InvalidOperationException("bad resampler output");
            Console.WriteLine($"run {run}{(run == 0 ? " (warm-up)" : "")}: encoder {encoded:0.00} s, resampler {total - encoded:0.000} s, total {total:0.00} s, CPU {cpuUsed:0.0} s");
            if (run == 0) continue;
            encoderSeconds.Add(encoded);
            resamplerSeconds.Add(total - encoded);
            cpuSeconds.Add(cpuUsed);
        }
        var totals = encoderSeconds.Zip(resamplerSeconds, (a, b) => a + b).ToList();
        Console.WriteLine($"| {type} | {threads} | {Median(totals):0.00} | {totals.Min():0.00} | {Median(encoderSeconds):0.00} | {Median(resamplerSeconds):0.000} | {Median(cpuSeconds):0.0} |");
        Console.WriteLine($"load average after: {LoadAverage()}");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
