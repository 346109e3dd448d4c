using System.Diagnostics;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Formats.Int4;

namespace MiniCPM.Bench;

/// <summary>
/// `int4 [rounds] [shape]` mode: matrix-vector GB/s of the HF int4 kernels (bitsandbytes NF4 with double-quantized
/// scales, blocks of 64; AutoGPTQ 4-bit, group 128, symmetric) next to Q4_0 and the bandwidth probe, at 1 and 2
/// threads, and the time of a 64-token product (prefill shape). GB counts every byte a pass reads: codes plus scales
/// (NF4: 8-bit absmax and the small nested tables; GPTQ: qweight, qzeros, f16 scales, g_idx). Weights are N(0, 0.02).
/// Medians over rounds of the fastest of 5 calls.
/// </summary>
internal static unsafe class QuickInt4
{
    private const int Tokens = 64;

    public static void Run(string[] args)
    {
        int rounds = args.Length > 1 ? int.Parse(args[1]) : 7;
        var (rows, cols) = Shapes.Parse(args.Length > 2 ? args[2] : "3584x18944");
        Console.WriteLine($"{DateTime.UtcNow:u}, load average before: {File.ReadAllText("/proc/loadavg").Trim()}");
        var random = new Random(3);
        var weights = new float[(long)rows * cols];
        for (long i = 0; i < weights.Length; i++) weights[i] = (float)(0.02 * NativeWeights.Gaussian(random));
        var nf4 = Nf4Quantizer.Quantize(weights);
        var gptq = GptqQuantizer.Quantize(weights, rows, cols, groupSize: 128, symmetric: true);
        weights = null!;
        long nf4Bytes = nf4.Codes.Length + nf4.AbsmaxCodes.Length + 4L * (nf4.NestedAbsmax.Length + 256 + 16);
        long gptqBytes = 4L * gptq.QWeight.Length + 4L * gptq.QZeros.Length + 2L * gptq.Scales.Length + 4L * gptq.GroupIndex.Length;
        using var q4 = new NativeWeights(TensorType.Q4_0, rows, cols);
        using var probe = new BandwidthProbe();
        var x = new float[Tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)NativeWeights.Gaussian(random);
        var y = new float[Tokens * rows];

        fixed (byte* codes = nf4.Codes, absmax = nf4.AbsmaxCodes)
        fixed (float* book = nf4.CodeBook, nestedCode = nf4.NestedCode, nestedAbsmax = nf4.NestedAbsmax)
        fixed (int* qweight = gptq.QWeight, qzeros = gptq.QZeros, gIdx = gptq.GroupIndex)
        fixed (ushort* scales = gptq.Scales)
        {
            var nf4Tensor = Nf4Tensor.Nested(codes, book, absmax, nestedAbsmax, nestedCode, nf4.NestedOffset, rows, cols, 64, 256);
            var gptqTensor = new GptqTensor(qweight, qzeros, scales, gIdx, rows, cols, gptq.Groups, gptq.ZeroOffset);
            Console.WriteLine($"| threads | case [out×in] | matvec GB/s | % of probe | {Tokens}-token product ms |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (int threads in new[] { 1, 2 })
            {
                using var pool = new CpuThreadPool(threads);
                var cases = new (string Name, long Bytes, Action MatVec, Action? Prefill)[]
                {
                    ("probe (512 MiB)", probe.Bytes, () => probe.Run(pool), null),
                    ($"Q4_0 {rows}x{cols}", q4.Matrix.TotalBytes, () => MatMul.MatVec(q4.Matrix, x.AsSpan(0, cols), y.AsSpan(0, rows), default, pool),
                        () => MatMul.Multiply(q4.Matrix, x, Tokens, y, default, pool)),
                    ($"NF4 {rows}x{cols}", nf4Bytes, () => Nf4MatMul.Multiply(nf4Tensor, x.AsSpan(0, cols), 1, y, default, pool),
                        () => Nf4MatMul.Multiply(nf4Tensor, x, Tokens, y, default, pool)),
                    ($"GPTQ g128 {rows}x{cols}", gptqBytes, () => GptqMatMul.Multiply(gptqTensor, x.AsSpan(0, cols), 1, y, default, pool),
                        () => GptqMatMul.Multiply(gptqTensor, x, Tokens, y, default, pool)),
                };
                var gbs = cases.Select(_ => new List<double>()).ToList();
                var prefillMs = cases.Select(_ => new List<double>()).ToList();
                foreach (var c in cases) { Fastest(c.MatVec, 20); if (c.Prefill != null) Fastest(c.Prefill, 2); }
                for (int round = 0; round < rounds; round++)
                    for (int i = 0; i < cases.Length; i++)
                    {
                        gbs[i].Add(cases[i].Bytes / Fastest(cases[i].MatVec, 5) / 1e9);
                        if (cases[i].Prefill is { } prefill) prefillMs[i].Add(1e3 * Fastest(prefill, 1));
                    }
                double probeGbs = Median(gbs[0]);
                for (int i = 0; i < cases.Length; i++)
                    Console.WriteLine($"| {threads} | {cases[i].Name} | {Median(gbs[i]):F1} | {100 * Median(gbs[i]) / probeGbs:F0}% | " +
                                      (prefillMs[i].Count > 0 ? $"{Median(prefillMs[i]):F0}" : "") + " |");
            }
        }
        Console.WriteLine($"{DateTime.UtcNow:u}, load average after: {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    private static double Fastest(Action action, int calls)
    {
        double best = double.MaxValue;
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
