using System.Diagnostics;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `encoder-ops [siglip|whisper] [threads] [f16|bf16] [runs] [tokens]`: where one pre-LN encoder layer spends its time — the
/// kernels of one SigLIP-400M layer at 1024 patches (hidden 1152, 16 heads × 72, ffn 4304, full attention) or one
/// Whisper-medium layer at 30 s = 1500 frames (hidden 1024, 16 heads × 64, ffn 4096, 50-frame block-causal chunks),
/// called the way SiglipLayer/WhisperEncoder call them, with random weights. Prints wall and process-CPU seconds per op
/// (the best of the runs after one warm-up) and each op's share.
/// </summary>
internal static unsafe class EncoderLayerProfile
{
    public static void Run(string[] args)
    {
        bool whisper = args.Length > 1 && args[1] == "whisper";
        int threads = args.Length > 2 ? int.Parse(args[2]) : 2;
        var type = args.Length > 3 && args[3].Equals("bf16", StringComparison.OrdinalIgnoreCase) ? TensorType.BF16 : TensorType.F16;
        int runs = args.Length > 4 ? int.Parse(args[4]) : 3;
        int tokens = args.Length > 5 ? int.Parse(args[5]) : whisper ? 1500 : 1024, hidden = whisper ? 1024 : 1152, heads = 16, ffn = whisper ? 4096 : 4304;
        int headDim = hidden / heads;
        int[] visible = whisper ? Enumerable.Range(0, tokens).Select(i => Math.Min(tokens, (i / 50 + 1) * 50)).ToArray() : [];
        Console.WriteLine($"{(whisper ? "Whisper-medium" : "SigLIP-400M")} layer, {tokens} tokens, {type}, {threads} threads, " +
                          $"{DateTime.UtcNow:u}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

        var random = new Random(1);
        float[] Floats(int n, float scale) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (random.NextSingle() * 2 - 1) * scale; return a; }
        ushort[] Weights(int rows, int cols)
        {
            var a = new ushort[rows * cols];
            for (int i = 0; i < a.Length; i++)
            {
                float value = (random.NextSingle() * 2 - 1) * 0.03f;
                a[i] = type == TensorType.BF16 ? Bf16.FromFloat(value) : Fp16.FromFloat(value);
            }
            return a;
        }
        var wq = Weights(hidden, hidden); var wk = Weights(hidden, hidden); var wv = Weights(hidden, hidden); var wo = Weights(hidden, hidden);
        var w1 = Weights(ffn, hidden); var w2 = Weights(hidden, ffn);
        var bias = Floats(hidden, 0.1f); var bias1 = Floats(ffn, 0.1f);
        var gamma = Floats(hidden, 1f); var beta = Floats(hidden, 0.1f);
        var x = Floats(tokens * hidden, 1f);
        var normed = new float[tokens * hidden];
        var q = new float[tokens * hidden]; var k = new float[tokens * hidden]; var v = new float[tokens * hidden];
        var attention = new float[tokens * hidden]; var projected = new float[tokens * hidden];
        var widened = new float[tokens * ffn];

        using var pool = threads > 1 ? new CpuThreadPool(threads) : null;
        var ops = new (string Name, double Gflop, Action Body)[]
        {
            ("layer norm ×2", 0, () => LayerNorm.ApplyRows(x, tokens, gamma, beta, 1e-6f, normed, pool)),
            ("q, k, v (3 × hidden²)", 3 * 2.0 * tokens * hidden * hidden / 1e9, () =>
            {
                Linear(type, wq, hidden, hidden, normed, tokens, q, bias, pool);
                Linear(type, wk, hidden, hidden, normed, tokens, k, bias, pool);
                Linear(type, wv, hidden, hidden, normed, tokens, v, bias, pool);
            }),
            ("attention", 4.0 * heads * headDim * visible.DefaultIfEmpty(tokens).Sum(n => (double)n) * (whisper ? 1 : tokens) / 1e9, () =>
                PrefixAttention.Compute(q, k, v, attention, tokens, tokens, heads, heads, headDim, 1 / MathF.Sqrt(headDim), visible, pool)),
            ("out proj (hidden²)", 2.0 * tokens * hidden * hidden / 1e9, () => Linear(type, wo, hidden, hidden, attention, tokens, projected, bias, pool)),
            ("fc1 (hidden → ffn)", 2.0 * tokens * hidden * ffn / 1e9, () => Linear(type, w1, ffn, hidden, normed, tokens, widened, bias1, pool)),
            ("gelu", 0, () =>
            {
                if (whisper) Activations.GeluErf(widened, widened);
                else Activations.GeluTanh(widened, widened);
            }),
            ("fc2 (ffn → hidden)", 2.0 * tokens * hidden * ffn / 1e9, () => Linear(type, w2, hidden, ffn, widened, tokens, projected, bias, pool)),
            ("residual adds ×2", 0, () => Elementwise.Add(x, projected, x)),
        };

        var bestWall = new double[ops.Length];
        var bestCpu = new double[ops.Length];
        Array.Fill(bestWall, double.MaxValue);
        Array.Fill(bestCpu, double.MaxValue);
        for (int run = 0; run <= runs; run++)
            for (int i = 0; i < ops.Length; i++)
            {
                // LayerNorm and the residual add run twice per layer: time one call and count it twice.
                int times = ops[i].Name.EndsWith("×2") ? 2 : 1;
                double cpu = ProcessCpuTime.Seconds();
                var clock = Stopwatch.StartNew();
                ops[i].Body();
                double wall = clock.Elapsed.TotalSeconds * times, used = (ProcessCpuTime.Seconds() - cpu) * times;
                if (run == 0) continue;
                bestWall[i] = Math.Min(bestWall[i], wall);
                bestCpu[i] = Math.Min(bestCpu[i], used);
            }
        double totalWall = bestWall.Sum(), totalCpu = bestCpu.Sum();
        Console.WriteLine("| op | wall ms | CPU ms | share of CPU | GFLOP/s per CPU-second |");
        Console.WriteLine("|---|---|---|---|---|");
        for (int i = 0; i < ops.Length; i++)
            Console.WriteLine($"| {ops[i].Name} | {bestWall[i] * 1e3:0.0} | {bestCpu[i] * 1e3:0.0} | {bestCpu[i] / totalCpu:0.0%} | " +
                              (ops[i].Gflop > 0 ? $"{ops[i].Gflop / bestCpu[i]:0.0}" : "") + " |");
        Console.WriteLine($"| layer | {totalWall * 1e3:0.0} | {totalCpu * 1e3:0.0} | 100% | {ops.Sum(o => o.Gflop) / totalCpu:0.0} |");
        Console.WriteLine($"load average after: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }

    private static void Linear(TensorType type, ushort[] weights, int rows, int cols, float[] x, int tokens, float[] y, float[] bias, CpuThreadPool? pool)
    {
        fixed (ushort* w = weights)
        {
            var matrix = WeightMatrix.Contiguous(type, (byte*)w, rows, cols);
            MatMul.Multiply(matrix, x, tokens, y, bias, pool);
        }
    }
}
