using System.Diagnostics;
using System.Globalization;
using System.Text;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>
/// <c>MiniCPM.GpuBench [--device cuda:0] [--golden DIR]... [--quick] [--skip-e2e] [--vision-only] [--tiny-vision] [--tiny]</c>: prints
/// (and writes to $OUT/gpubench.txt when OUT is set) the measured device copy bandwidth, every kernel's time, GB/s and
/// TFLOP/s against it, end-to-end decode/prefill of a random qwen2-7b-shape model in F16 and Q4_0 with the decode
/// roofline ratio (Forward + host argmax with CUDA graphs on and off, and greedy decoding on the device), ms per 448×448
/// vision slice (GpuBenchmark.Vision.cs) and ms per 30 s audio piece (GpuBenchmark.Audio.cs); <c>--vision-only</c> runs
/// just those two media sections. <c>--tiny</c> is a smoke run: every
/// section at toy shapes, one timed repetition each (numbers meaningless), so <c>--device cpu --tiny</c> exercises the
/// whole program on the simulator in about a minute before a GPU session spends device time on it.
/// </summary>
internal static partial class GpuBenchmark
{
    private static readonly StringBuilder Report = new();
    private static double _copyBandwidth; // bytes/s
    private static double _fmaFlops = double.NaN, _mmaFlops = double.NaN; // FLOP/s: float FMA on CUDA cores, TF32 products on tensor cores (NaN: none)
    private static double _launchSeconds;
    private static bool _tiny;

    public static int Main(string[] args)
    {
        string device = "cuda";
        var golden = new List<string>();
        bool quick = false, e2e = true, visionOnly = false, tinyVision = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--device": device = args[++i]; break;
                case "--golden": golden.Add(args[++i]); break;
                case "--quick": quick = true; break;
                case "--skip-e2e": e2e = false; break;
                case "--vision-only": visionOnly = true; break;
                case "--tiny-vision": tinyVision = true; break;
                case "--tiny": _tiny = tinyVision = quick = true; break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'. Usage: MiniCPM.GpuBench [--device cuda:0] [--golden DIR]... [--quick] [--skip-e2e] [--vision-only] [--tiny-vision] [--tiny]");
                    return 2;
            }
        }
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;

        try
        {
            foreach (var dir in golden) Golden(dir, device);
            using var gpu = GpuDevice.Open(device);
            Line($"# MiniCPM GPU bench — {gpu.Description} ({gpu.Name}), {gpu.MemoryBytes / (1L << 30)} GiB, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
            Line($"# ILGPU {typeof(Context).Assembly.GetName().Version}, .NET {Environment.Version}");
            Line($"# TF32 tensor cores: {(gpu.Kernels.HasTensorCores ? "yes (tiled products use them unless a line says otherwise)" : "no")}");
            var total = Stopwatch.StartNew();
            if (!visionOnly)
            {
                CopyBandwidth(gpu, quick);
                Guarded(() => ComputeCeilings(gpu));
                LaunchOverhead(gpu);
                Kernels(gpu, quick);
                Guarded(() => Int8TeamWidths(gpu));
                Guarded(() => DecodeAnatomy(gpu, _tiny ? 40 : 160));
                if (e2e) EndToEnd(gpu, quick);
            }
            Guarded(() => VisionSection(gpu, quick, tinyVision));
            Guarded(() => AudioSection(gpu, quick, tinyVision));
            KernelResourceTable(gpu);
            if (gpu.Kernels.TensorCoreFallbackReason is { } reason) Line($"# tensor cores turned off by their probe: {reason}");
            Line($"# total {total.Elapsed.TotalSeconds:F0} s");
            return 0;
        }
        catch (GpuDeviceUnavailableException e)
        {
            Line("no GPU: " + e.Message);
            return 3;
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("OUT") is { Length: > 0 } outDir)
                File.WriteAllText(Path.Combine(outDir, "gpubench.txt"), Report.ToString());
        }
    }

    private static void Line(string text)
    {
        Console.WriteLine(text);
        Report.AppendLine(text);
    }

    private static void Golden(string caseDirectory, string device)
    {
        var watch = Stopwatch.StartNew();
        var report = GoldenRunner.Run(caseDirectory, new GoldenRunOptions { Device = device });
        Line($"## golden '{report.CaseType}' on {device}: {report.Passed} passed, {report.Failed} failed ({watch.Elapsed.TotalSeconds:F1} s)");
        foreach (var r in report.Results) Line($"  {r.Name,-24} {r.Status,-8} max |err| {r.MaxAbsError:G3}  {r.Detail}");
    }

    /// <summary>Time per call of <paramref name="action"/> over enough repetitions (after a warm-up), synchronized.</summary>
    private static double Seconds(GpuDevice gpu, Action action, int repetitions)
    {
        if (_tiny) repetitions = 1; // smoke run: the path, not the number (and no warm-up)
        else
        {
            action();
            gpu.Synchronize();
        }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < repetitions; i++) action();
        gpu.Synchronize();
        return watch.Elapsed.TotalSeconds / repetitions;
    }

    private static void CopyBandwidth(GpuDevice gpu, bool quick)
    {
        long bytes = _tiny ? 1L << 20 : quick ? 256L << 20 : 2L << 30;
        using var a = gpu.Allocate<byte>(bytes);
        using var b = gpu.Allocate<byte>(bytes);
        a.MemSetToZero();
        double seconds = Seconds(gpu, () => a.View.CopyTo(b.View), 20);
        _copyBandwidth = 2.0 * bytes / seconds;
        Line($"## device copy: {bytes >> 20} MiB in {seconds * 1e3:F3} ms → {_copyBandwidth / 1e9:F0} GB/s (read + write) = the ceiling below");
    }

    /// <summary>The compute ceilings, as the copy is the memory ceiling: float FMA chains on every thread, and TF32
    /// tensor-core products on every warp (PeakKernels), from registers only.</summary>
    private static void ComputeCeilings(GpuDevice gpu)
    {
        using var sink = gpu.Allocate<float>(1024);
        int iterations = _tiny ? 4 : 2048, groups = _tiny ? 2 : gpu.Accelerator.NumMultiprocessors * 8;
        var fma = gpu.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float>(PeakKernels.Fma);
        int threads = groups * 256;
        double seconds = Seconds(gpu, () => fma(threads, sink.View, iterations, 3f), 5);
        _fmaFlops = 2.0 * threads * iterations * PeakKernels.FmaChains * PeakKernels.FmaRounds / seconds;
        _mmaFlops = double.NaN;
        if (gpu.Kernels.HasTensorCores || gpu.IsSimulator)
        {
            var mma = gpu.IsCuda
                ? gpu.Accelerator.LoadStreamKernel<ArrayView<float>, int, float>(PeakKernels.Mma<Tf32MmaInstruction>)
                : gpu.Accelerator.LoadStreamKernel<ArrayView<float>, int, float>(PeakKernels.Mma<Tf32MmaEmulation>);
            seconds = Seconds(gpu, () => mma(new KernelConfig(groups, 256), sink.View, iterations, 3f), 5);
            _mmaFlops = groups * 8.0 * iterations * PeakKernels.MmaChains * PeakKernels.MmaFlops / seconds;
        }
        Line($"## compute ceilings: float FMA {_fmaFlops / 1e12:F1} TFLOP/s" + (double.IsNaN(_mmaFlops) ? ", no TF32 tensor cores"
            : $", TF32 mma {_mmaFlops / 1e12:F1} TFLOP/s (3xTF32 float32 products: {_mmaFlops / 3e12:F1}, F16/BF16 weights' two products: {_mmaFlops / 2e12:F1})"));
    }

    private static void LaunchOverhead(GpuDevice gpu)
    {
        using var x = gpu.Allocate<float>(32);
        x.MemSetToZero();
        double seconds = Seconds(gpu, () => gpu.Kernels.Add(x.View, x.View, x.View, 32), 2000);
        _launchSeconds = seconds;
        Line($"## back-to-back launch of a tiny kernel: {seconds * 1e6:F2} µs");
    }

    private static void Kernels(GpuDevice gpu, bool quick)
    {
        Line("## matrix kernels (random weights; x, y float32)");
        Line($"hot: one matrix timed again and again (what fits of it stays in L2); cold: copies holding {ColdMatrices.ColdBytes >> 20} MiB taken in turn, so the weights come from memory as in a decode step — cold is the figure to hold against the copy ceiling");
        Line("| kernel | type | rows×cols | tokens | µs/call hot | GB/s | % of copy | TFLOP/s | µs/call cold | % of copy cold |");
        Line("|---|---|---|---|---|---|---|---|---|---|");
        (int Rows, int Cols)[] shapes = _tiny ? [(16, 256)]
            : quick ? [(3584, 18944), (18944, 3584)] : [(3584, 18944), (18944, 3584), (152064, 3584)];
        TensorType[] types = [TensorType.F16, TensorType.Q4_0, TensorType.Q8_0, TensorType.Q4_K, TensorType.Q6_K, TensorType.BF16, TensorType.F32,
            TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1, TensorType.Q5_K, TensorType.Q3_K, TensorType.Q2_K];
        foreach (var (rows, cols) in shapes)
            foreach (var type in types)
            {
                if (type == TensorType.F32 && rows > 20000) continue;
                MatMulLine(gpu, type, rows, cols, tokens: 1, "matvec");
                if (GpuKernels.HasInt8Kernel(type)) Guarded(() => Int8MatVecLine(gpu, type, rows, cols));
            }
        foreach (var type in new[] { TensorType.F16, TensorType.Q4_0, TensorType.Q4_K })
            MatMulLine(gpu, type, _tiny ? 16 : 18944, _tiny ? 256 : 3584, tokens: _tiny ? 5 : 128, "matmul");
        TiledLines(gpu, quick);

        // Attention at decode: one row over a 1024-token context, 7B heads.
        Line(_tiny ? "## attention and row kernels (toy shapes)" : "## attention and row kernels (qwen2-7b shapes)");
        (int Rows, int Context)[] attention = _tiny ? [(1, 40), (4, 40), (9, 9)] : [(1, 1024), (1, 4096), (1, 16384), (4, 1024), (128, 128), (512, 512)];
        foreach (var (rows, context) in attention) AttentionLine(gpu, rows, context);
        int hidden = _tiny ? 256 : 3584, ffn = _tiny ? 512 : 18944;
        using var h = gpu.Allocate<float>(128 * hidden);
        using var w = gpu.Allocate<float>(hidden);
        using var y = gpu.Allocate<float>(128 * hidden);
        h.MemSetToZero();
        w.MemSetToZero();
        double norm = Seconds(gpu, () => gpu.Kernels.RmsNorm(h.View, 1, w.View, 1e-6f, y.View), 200);
        Line($"| rmsnorm 1×{hidden} | {norm * 1e6:F2} µs |");
        using var gu = gpu.Allocate<float>(2 * ffn);
        using var act = gpu.Allocate<float>(ffn);
        gu.MemSetToZero();
        double silu = Seconds(gpu, () => gpu.Kernels.SiluMulFused(gu.View, act.View, 1, ffn), 200);
        Line($"| silu·mul 1×{ffn} | {silu * 1e6:F2} µs |");
        // The fused producers of int8 decode inputs against the pair (float kernel, then quantize) they replace.
        using var q = new Int8Buffer(gpu, 1, ffn);
        double quantizeH = Seconds(gpu, () => gpu.Kernels.QuantizeInt8(y.View, 1, hidden, q.For(hidden)), 200);
        double normInt8 = Seconds(gpu, () => gpu.Kernels.RmsNormInt8(h.View, 1, w.View, 1e-6f, y.View, q.For(hidden)), 200);
        Line($"| rmsnorm+int8 1×{hidden} | {normInt8 * 1e6:F2} µs (unfused: {norm * 1e6:F2} + quantize {quantizeH * 1e6:F2}) |");
        double quantizeF = Seconds(gpu, () => gpu.Kernels.QuantizeInt8(act.View, 1, ffn, q.For(ffn)), 200);
        double siluInt8 = Seconds(gpu, () => gpu.Kernels.SiluMulFusedInt8(gu.View, act.View, 1, ffn, q.For(ffn)), 200);
        Line($"| silu·mul+int8 1×{ffn} | {siluInt8 * 1e6:F2} µs (unfused: {silu * 1e6:F2} + quantize {quantizeF * 1e6:F2}) |");
    }

    private static void MatMulLine(GpuDevice gpu, TensorType type, int rows, int cols, int tokens, string name)
    {
        using var matrices = new ColdMatrices(gpu, type, rows, cols, single: _tiny);
        var matrix = matrices.Hot;
        using var x = gpu.Allocate<float>((long)tokens * cols);
        using var y = gpu.Allocate<float>((long)tokens * rows);
        Fill(gpu, x.View, (long)tokens * cols);
        int repetitions = (int)Math.Clamp(20e9 / matrix.Bytes, 5, 200);
        double seconds = Seconds(gpu, () => gpu.Kernels.MatMul(matrix, x.View, tokens, y.View), repetitions);
        double cold = Seconds(gpu, () => gpu.Kernels.MatMul(matrices.Next(), x.View, tokens, y.View), repetitions);
        double bytes = matrix.Bytes + 4.0 * tokens * (cols + rows);
        double flops = 2.0 * rows * cols * tokens;
        Line($"| {name} | {type} | {rows}×{cols} | {tokens} | {seconds * 1e6:F1} | {bytes / seconds / 1e9:F0} | {100 * bytes / seconds / _copyBandwidth:F0}% | {flops / seconds / 1e12:F2} | {cold * 1e6:F1} | {100 * bytes / cold / _copyBandwidth:F0}% |");
    }

    /// <summary>The shared-memory tiled kernel that prefill and the vision tower get (GpuKernels.TiledMinTokens and up)
    /// against MatMulKernel at the same shape, and the token counts around the dispatch threshold.</summary>
    private static void TiledLines(GpuDevice gpu, bool quick)
    {
        Line($"## tiled matmul (from {gpu.Kernels.TiledMinTokens} tokens) on CUDA cores and on TF32 tensor cores (3xTF32) vs MatMulKernel (4 tokens per weight load) at the same shape");
        Line(gpu.Kernels.HasTensorCores || gpu.IsSimulator
            ? $"tensor cores: {(gpu.IsSimulator ? "emulated (simulator)" : "mma.sync m16n8k8 .tf32")}; max |difference| from the CUDA-core kernel, relative to max |y|"
            : "tensor cores: none on this device (TF32 mma needs CUDA compute capability 8.0)");
        Line("| shape | type | rows×cols | tokens | tiled µs | TFLOP/s (of FMA ceiling) | tensor-core µs | TFLOP/s (of its ceiling) | tensor / tiled | difference | MatMulKernel µs | TFLOP/s | tiled / MatMulKernel |");
        Line("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        (string Name, int Rows, int Cols, int Tokens)[] shapes =
        [
            ("siglip fc1, 448² slice", 4320, 1152, 1024), // MLP width 4304, padded to whole 32-column units (GpuVisionWeights)
            ("siglip fc2, 448² slice", 1152, 4320, 1024),
            ("siglip q|k|v, 448² slice", 3456, 1152, 1024),
            ("7b q|k|v prefill", 4608, 3584, 128),
            ("7b gate|up prefill", 37888, 3584, 128),
            ("7b down prefill", 3584, 18944, 128),
            ("7b q|k|v, threshold", 4608, 3584, 16),
            ("7b q|k|v, threshold", 4608, 3584, 32),
            ("7b q|k|v, threshold", 4608, 3584, 64),
        ];
        if (_tiny) shapes = [("toy", 72, 64, 20)]; // past one 64-row tile and the 16-token threshold
        TensorType[] types = _tiny ? [TensorType.Q4_0] : quick ? [TensorType.F16, TensorType.Q4_0] : [TensorType.F16, TensorType.Q4_0, TensorType.Q8_0, TensorType.Q4_K];
        foreach (var (name, rows, cols, tokens) in shapes)
            foreach (var type in types)
                Guarded(() => TiledLine(gpu, name, type, rows, cols, tokens));
    }

    private static void TiledLine(GpuDevice gpu, string name, TensorType type, int rows, int cols, int tokens)
    {
        using var matrix = GpuMatrix.Allocate(gpu, type, rows, cols);
        matrix.Randomize(gpu, 12345);
        using var x = gpu.Allocate<float>((long)tokens * cols);
        using var y = gpu.Allocate<float>((long)tokens * rows);
        Fill(gpu, x.View, (long)tokens * cols);
        double flops = 2.0 * rows * cols * tokens;
        int repetitions = (int)Math.Clamp(2e12 / flops, 5, 200);
        int threshold = gpu.Kernels.TiledMinTokens;
        double tiled = double.NaN, plain, tensor = double.NaN, difference = double.NaN;
        try
        {
            gpu.Kernels.TiledMinTokens = 1;
            float[]? cudaCores = null;
            foreach (var path in KernelPath.ForMatMuls(gpu))
            {
                var (seconds, result, onTensorCores) = path.Run(gpu, () =>
                    (Seconds(gpu, () => gpu.Kernels.MatMul(matrix, x.View, tokens, y.View), repetitions), Download(y.View, (long)tokens * rows),
                     gpu.Kernels.TensorCores));
                if (!path.TensorCores) (tiled, cudaCores) = (seconds, result);
                else if (onTensorCores) (tensor, difference) = (seconds, RelativeDifference(cudaCores!, result));
                else Line($"tensor cores off: {gpu.Kernels.TensorCoreFallbackReason}"); // that time was the CUDA-core kernel's
            }
            gpu.Kernels.TiledMinTokens = int.MaxValue;
            plain = new KernelPath(false).Run(gpu, () => Seconds(gpu, () => gpu.Kernels.MatMul(matrix, x.View, tokens, y.View), repetitions));
        }
        finally { gpu.Kernels.TiledMinTokens = threshold; }
        // Against the ceilings: the CUDA-core kernel's FMAs, the tensor-core kernel's effective products (3 per unit
        // step, 2 for F16/BF16 weights).
        double tensorCeiling = _mmaFlops / (type is TensorType.F16 or TensorType.BF16 ? 2 : 3);
        string tensorCells = double.IsNaN(tensor) ? "— | — | — | —"
            : $"{tensor * 1e6:F1} | {flops / tensor / 1e12:F2} ({flops / tensor / tensorCeiling:P0}) | {tiled / tensor:F2}× faster | {difference:E1}";
        Line($"| {name} | {type} | {rows}×{cols} | {tokens} | {tiled * 1e6:F1} | {flops / tiled / 1e12:F2} ({flops / tiled / _fmaFlops:P0}) | {tensorCells} | {plain * 1e6:F1} | {flops / plain / 1e12:F2} | {plain / tiled:F2}× |");
    }

    private static float[] Download(ArrayView<float> view, long count)
    {
        var values = new float[count];
        view.SubView(0, count).CopyToCPU(values);
        return values;
    }

    /// <summary>max |a − b| / max |a|.</summary>
    private static double RelativeDifference(float[] a, float[] b)
    {
        double worst = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs((double)a[i]));
        }
        return worst / Math.Max(scale, double.Epsilon);
    }

    /// <summary>Runs one measurement; a failure is printed and the bench goes on.</summary>
    private static void Guarded(Action measure)
    {
        try { measure(); }
        catch (Exception e) when (e is not OutOfMemoryException) { Line($"FAILED: {e.GetType().Name}: {e.Message}"); }
    }

    /// <summary>The int8-activation matvec, timed with the activation quantization it needs (two launches).</summary>
    private static void Int8MatVecLine(GpuDevice gpu, TensorType type, int rows, int cols)
    {
        using var f = new Int8MatVecFixture(gpu, type, rows, cols);
        double seconds = Seconds(gpu, () =>
        {
            gpu.Kernels.QuantizeInt8(f.X.View, 1, cols, f.Q.For(cols));
            gpu.Kernels.MatMulInt8(f.Matrix, f.Q.For(cols), 1, f.Y.View);
        }, f.Repetitions);
        double kernelOnly = Seconds(gpu, () => gpu.Kernels.MatMulInt8(f.Matrix, f.Q.For(cols), 1, f.Y.View), f.Repetitions);
        double cold = Seconds(gpu, () => gpu.Kernels.MatMulInt8(f.Matrices.Next(), f.Q.For(cols), 1, f.Y.View), f.Repetitions);
        double flops = 2.0 * rows * cols;
        Line($"| matvec int8 x (+quantize) | {type} | {rows}×{cols} | 1 | {seconds * 1e6:F1} ({kernelOnly * 1e6:F1} alone) | {f.Bytes / kernelOnly / 1e9:F0} | {100 * f.Bytes / kernelOnly / _copyBandwidth:F0}% | {flops / kernelOnly / 1e12:F2} | {cold * 1e6:F1} | {100 * f.Bytes / cold / _copyBandwidth:F0}% |");
        // A decode batch: the later tokens' groups follow the first's (tokens vary fastest in the grid), so they read
        // the weights from L2; the % counts the weights once, as a batched step needs them.
        const int batch = Int8MatVecFixture.BatchTokens;
        double batched = Seconds(gpu, () => gpu.Kernels.MatMulInt8(f.Matrices.Next(), f.Q.For(cols), batch, f.Y.View), f.Repetitions);
        Line($"| matvec int8 x, {batch} tokens | {type} | {rows}×{cols} | {batch} | | | | {batch * flops / batched / 1e12:F2} | {batched * 1e6:F1} ({batched / cold:F2}× one token) | {100 * f.Bytes / batched / _copyBandwidth:F0}% |");
    }

    /// <summary>Random matrices of an int8-capable format (<see cref="ColdMatrices"/>), x (random, already quantized) and
    /// y, for the int8 matvec lines.</summary>
    private sealed class Int8MatVecFixture : IDisposable
    {
        public readonly ColdMatrices Matrices;
        public readonly GpuMatrix Matrix;
        public readonly MemoryBuffer1D<float, Stride1D.Dense> X, Y;
        public readonly Int8Buffer Q;

        public Int8MatVecFixture(GpuDevice gpu, TensorType type, int rows, int cols)
        {
            Matrices = new ColdMatrices(gpu, type, rows, cols, single: _tiny);
            Matrix = Matrices.Hot;
            X = gpu.Allocate<float>((long)BatchTokens * cols);
            Y = gpu.Allocate<float>((long)BatchTokens * rows);
            Q = new Int8Buffer(gpu, BatchTokens, cols);
            Fill(gpu, X.View, (long)BatchTokens * cols);
            gpu.Kernels.QuantizeInt8(X.View, BatchTokens, cols, Q.For(cols));
        }

        /// <summary>The largest batch the int8 path takes (the engine's FusedLinear.MaxInt8Tokens: a decode step of that
        /// many sequences); lines time 1 token unless they say so.</summary>
        public const int BatchTokens = 4;

        /// <summary>Calls per timing: about 20 GB of weights read.</summary>
        public int Repetitions => (int)Math.Clamp(20e9 / Matrix.Bytes, 5, 200);

        /// <summary>What one call reads and writes: the weights, x's int8 blocks and y.</summary>
        public double Bytes => Matrix.Bytes + 1.25 * Matrix.Cols + 4.0 * Matrix.Rows;

        public void Dispose()
        {
            Q.Dispose();
            Y.Dispose();
            X.Dispose();
            Matrices.Dispose();
        }
    }

    /// <summary>
    /// The int8 matvec at the decode step's shapes with each team width (warps per row pair): the kernel's choice is one
    /// warp below 8192 columns, taken from the float kernel; these lines are what should set it for int8.
    /// </summary>
    private static void Int8TeamWidths(GpuDevice gpu)
    {
        (string Name, int Rows, int Cols)[] shapes = _tiny ? [("q|k|v", 24, 256), ("down", 16, 1024)]
            : [("q|k|v", 4608, 3584), ("o", 3584, 3584), ("gate|up", 37888, 3584), ("down", 3584, 18944), ("lm_head", 152064, 3584)];
        Line($"## int8 matvec team widths (µs/call and % of copy, cold weights; the kernel's choice marked *)");
        Line("| type | matrix | rows×cols | 1 warp | 2 warps | 4 warps |");
        Line("|---|---|---|---|---|---|");
        foreach (var type in new[] { TensorType.Q4_0, TensorType.Q4_K, TensorType.Q6_K })
            foreach (var (name, rows, cols) in shapes)
            {
                using var f = new Int8MatVecFixture(gpu, type, rows, cols);
                var cells = new[] { 1, 2, 4 }.Select(team =>
                {
                    double seconds = Seconds(gpu, () => gpu.Kernels.MatMulInt8(f.Matrices.Next(), f.Q.For(cols), 1, f.Y.View, teamWarps: team), f.Repetitions);
                    string mark = team == Int8MatVecKernel.TeamWarps(cols) ? "*" : "";
                    return $"{seconds * 1e6:F1}{mark} ({100 * f.Bytes / seconds / _copyBandwidth:F0}%)";
                });
                Line($"| {type} | {name} | {rows}×{cols} | {string.Join(" | ", cells)} |");
            }
    }

    private static void AttentionLine(GpuDevice gpu, int rows, int context)
    {
        // 7B heads; the smoke run keeps the head size and GQA ratio, with fewer heads.
        using var f = new AttentionSetup(gpu, rows, context, _tiny ? 4 : 28, _tiny ? 2 : 4);
        double seconds = Seconds(gpu, () => gpu.Kernels.Attention(f.Args, rows), 50);
        double kvBytes = 2.0 * 4 * f.KvWidth * context;
        Line($"| paged attention {rows} row(s) × {f.Args.Heads} heads, context {context} | {seconds * 1e6:F1} µs | KV read once: {kvBytes / seconds / 1e9:F0} GB/s |");
        // Past split-K, the tiled prefill path (what Qwen2GpuModel takes for more than 8 rows): one launch, one group
        // per 16 rows and head; its largest difference from the per-row kernel checks it at this size.
        if (!GpuKernels.CanSplit(f.Args, rows, f.Split))
        {
            var tiled = f.Args with { Output = f.TiledOutput.View };
            seconds = Seconds(gpu, () => gpu.Kernels.PrefillAttention(tiled, rows, f.Tiles.List, f.Tiles.Count), 50);
            int n = rows * f.Args.Heads * f.Args.HeadDim;
            float[] perRow = new float[n], ours = new float[n];
            f.Args.Output.SubView(0, n).CopyToCPU(perRow);
            f.TiledOutput.View.SubView(0, n).CopyToCPU(ours);
            float difference = perRow.Zip(ours, (x, y) => Math.Abs(x - y)).Max();
            string verdict = difference <= 1e-4f ? "" : " FAILED: differs from the per-row kernel";
            Line($"| tiled prefill attention {rows} row(s) × {f.Args.Heads} heads, context {context} | {seconds * 1e6:F1} µs | KV read once: {kvBytes / seconds / 1e9:F0} GB/s | max abs difference from paged {difference:E1}{verdict} |");
            return;
        }
        // The split-K decode path (what Qwen2GpuModel takes for ≤ 8 rows): two launches, attention + merge.
        int chunk = f.Split.ChunkSizeFor(rows, f.Args.Heads / f.Args.GroupSize, context);
        seconds = Seconds(gpu, () => gpu.Kernels.Attention(f.Args, rows, f.Split, context), 50);
        Line($"| split-K attention {rows} row(s) × {f.Args.Heads} heads, context {context}, chunks of {chunk} | {seconds * 1e6:F1} µs | KV read once: {kvBytes / seconds / 1e9:F0} GB/s |");
    }

    /// <summary>Random queries and a paged KV cache for <c>rows</c> decode rows at the end of one sequence of
    /// <c>context</c> positions, its block table a permutation; head size 128.</summary>
    private sealed class AttentionSetup : IDisposable
    {
        private readonly List<IDisposable> _buffers = [];

        public AttentionSetup(GpuDevice gpu, int rows, int context, int heads, int kvHeads)
        {
            const int headDim = 128, blockSize = 16;
            KvWidth = kvHeads * headDim;
            int blocks = (context + blockSize - 1) / blockSize;
            var q = Keep(gpu.Allocate<float>((long)rows * heads * headDim));
            var o = Keep(gpu.Allocate<float>((long)rows * heads * headDim));
            var keys = Keep(gpu.Allocate<float>((long)blocks * blockSize * KvWidth));
            var values = Keep(gpu.Allocate<float>((long)blocks * blockSize * KvWidth));
            Fill(gpu, q.View, q.Length);
            Fill(gpu, keys.View, keys.Length);
            Fill(gpu, values.View, values.Length);
            var table = Enumerable.Range(0, blocks).Select(b => (b * 7) % blocks).ToArray();
            if (blocks % 7 == 0) table = Enumerable.Range(0, blocks).Reverse().ToArray();
            var tables = Keep(gpu.Upload<int>(table));
            var positions = Keep(gpu.Upload<int>(Enumerable.Range(context - rows, rows).ToArray()));
            var starts = Keep(gpu.Upload<int>(new int[rows]));
            Args = new AttentionArgs
            {
                Query = q.View, QueryStride = heads * headDim, Output = o.View, KeyCache = keys.View, ValueCache = values.View,
                Positions = positions.View, TableStarts = starts.View, BlockTables = tables.View,
                Heads = heads, GroupSize = heads / kvHeads, HeadDim = headDim, BlockSize = blockSize, Scale = 0.088f,
            };
            Split = Keep(new SplitAttentionScratch(gpu, Math.Min(rows, 8), heads, headDim, context));
            TiledOutput = Keep(gpu.Allocate<float>((long)rows * heads * headDim));
            var tiles = new List<int>();
            int tileCount = PrefillAttentionKernel.AddTiles(tiles, 0, rows);
            Tiles = new PrefillTiles(Keep(gpu.Upload<int>(tiles.ToArray())).View, tileCount);
        }

        public AttentionArgs Args { get; }
        public SplitAttentionScratch Split { get; }
        /// <summary>The rows' query tiles for the prefill attention (one sequence), and that kernel's own output.</summary>
        public PrefillTiles Tiles { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> TiledOutput { get; }
        public int KvWidth { get; }

        private T Keep<T>(T buffer) where T : IDisposable
        {
            _buffers.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            foreach (var b in _buffers) b.Dispose();
        }
    }

    /// <summary>
    /// What one 7B Q4_0 int8 decode step costs on the GPU without the model's host side: each launch of a decoder
    /// layer alone (back to back, so tiny kernels show the launch rate), then all of them 28 times in a row plus the
    /// lm_head — the floor the model's ms/token is compared with (the difference is host work and syncs). Every layer
    /// has weights of its own, as in the model: a launch timed alone takes the layers in turn (cold: its weights come
    /// from memory), and "hot" repeats layer 0's, as the anatomy did up to the fourth GPU session (q|k|v, o and down then
    /// partly ran from L2, one suspect for the parts summing to less than the whole step).
    /// </summary>
    private static void DecodeAnatomy(GpuDevice gpu, int context)
    {
        int hidden = _tiny ? 256 : 3584, ffn = _tiny ? 512 : 18944, kvHeads = _tiny ? 1 : 4, heads = _tiny ? 2 : 28; // heads·128 = hidden
        int layers = _tiny ? 1 : 28, vocab = _tiny ? 264 : 152064, qkv = hidden + 2 * kvHeads * 128;
        Line($"## decode step anatomy: Q4_0 weights, int8 activations, context {context}, {layers} layers (µs per launch, back to back)");
        var weights = Enumerable.Range(0, layers).Select(layer => new LayerWeights(
            Random(gpu, qkv, hidden, layer), Random(gpu, hidden, hidden, layer), Random(gpu, 2 * ffn, hidden, layer), Random(gpu, hidden, ffn, layer))).ToArray();
        using var disposeWeights = new Disposables(weights.SelectMany(w => new[] { w.Qkv, w.O, w.GateUp, w.Down }));
        using var wHead = Random(gpu, vocab, hidden, 0);
        using var h = gpu.Allocate<float>(hidden);
        using var normed = gpu.Allocate<float>(hidden);
        using var norm = gpu.Allocate<float>(hidden);
        using var qkvOut = gpu.Allocate<float>(qkv);
        using var gateUp = gpu.Allocate<float>(2 * ffn);
        using var act = gpu.Allocate<float>(ffn);
        using var logits = gpu.Allocate<float>(vocab);
        using var q = new Int8Buffer(gpu, 1, ffn);
        // The norms in the o and down projections' tails write blocks of their own (the projection still reads q).
        using var qNorm = new Int8Buffer(gpu, 1, hidden);
        using var counters = new TokenCounters(gpu, 1);
        Fill(gpu, h.View, hidden);
        Fill(gpu, norm.View, hidden);
        Fill(gpu, gateUp.View, 2 * ffn);
        using var attention = new AttentionSetup(gpu, 1, context, heads, kvHeads);
        // The q|k|v projection's RoPE + cache-write epilogue: a cos/sin table over the context, the row's cache slot.
        using var cos = gpu.Allocate<float>((long)context * 64);
        using var sin = gpu.Allocate<float>((long)context * 64);
        using var slot = gpu.Upload<int>(new[] { context - 1 });
        Fill(gpu, cos.View, cos.Length);
        Fill(gpu, sin.View, sin.Length);
        var rope = new RopeArgs
        {
            Qkv = qkvOut.View, RowStride = qkv, Positions = attention.Args.Positions, Slots = slot.View, Cos = cos.View, Sin = sin.View,
            KeyCache = attention.Args.KeyCache, ValueCache = attention.Args.ValueCache, Heads = heads, KvHeads = kvHeads, HeadDim = 128,
        };
        var k = gpu.Kernels;
        var oTail = GpuKernels.RmsNormTail(h.View, norm.View, 1e-6f, normed.View, qNorm.For(hidden), counters, [weights[0].O]);
        // SiLU·mul in gate|up's tail writes blocks of its own (gate|up still reads qNorm's while the first are made).
        using var swiGluBlocks = new Int8Buffer(gpu, 1, ffn);
        using var swiGluCounters = new TokenCounters(gpu, 1, perToken: ffn / 32);
        var swiGluTails = weights.Select(w => GpuKernels.SwiGluTail(w.GateUp, gateUp.View, act.View, swiGluBlocks.For(ffn), swiGluCounters)).ToArray();
        var downTail = GpuKernels.RmsNormTail(h.View, norm.View, 1e-6f, normed.View, qNorm.For(hidden), counters, [weights[0].Down]);
        Action<int> norm1 = _ => k.RmsNormInt8(h.View, 1, norm.View, 1e-6f, normed.View, qNorm.For(hidden));
        // A layer as Qwen2GpuModel runs it by default: RoPE and the cache write in the q|k|v projection's epilogue, the
        // norms after o and down launches of their own (9 launches).
        (string Name, Action<int> Launch)[] steps =
        [
            ($"q|k|v {qkv}×{hidden} + RoPE + cache write", l => k.MatMulInt8RopeAndCache(weights[l].Qkv, qNorm.For(hidden), 1, rope, column: 0)),
            ("split-K attention + merge (2 launches)", _ => k.Attention(attention.Args, 1, attention.Split, context, quantizeOutput: q.For(hidden))),
            ($"o {hidden}×{hidden} (+= h)", l => k.MatMulInt8(weights[l].O, q.For(hidden), 1, h.View, accumulate: true)),
            ("rmsnorm+int8", norm1),
            ($"gate|up {2 * ffn}×{hidden}", l => k.MatMulInt8(weights[l].GateUp, qNorm.For(hidden), 1, gateUp.View)),
            ("silu·mul+int8", _ => k.SiluMulFusedInt8(gateUp.View, act.View, 1, ffn, q.For(ffn))),
            ($"down {hidden}×{ffn} (+= h)", l => k.MatMulInt8(weights[l].Down, q.For(ffn), 1, h.View, accumulate: true)),
            ("rmsnorm+int8", norm1),
        ];
        Action<int> firstNorm = norm1;
        // Qwen2GpuModel.FusedNorms (the norms in the o and down projections' tails), MergedAttention (the merge in the
        // split kernel's tail) and FusedSwiGlu (SiLU·mul in gate|up's tail) instead; not in the sums.
        (string Name, Action<int> Launch)[] apart =
        [
            ($"for comparison: o {hidden}×{hidden} (+= h) + rmsnorm+int8 tail", l => k.MatMulInt8ThenRmsNorm(weights[l].O, q.For(hidden), 1, h.View, oTail, accumulate: true)),
            ($"for comparison: down {hidden}×{ffn} (+= h) + rmsnorm+int8 tail", l => k.MatMulInt8ThenRmsNorm(weights[l].Down, q.For(ffn), 1, h.View, downTail, accumulate: true)),
            ("for comparison: split-K attention with the merge in its tail (1 launch)",
                _ => k.Attention(attention.Args, 1, attention.Split, context, quantizeOutput: q.For(hidden), mergeInTail: true)),
            ($"for comparison: gate|up {2 * ffn}×{hidden} + silu·mul+int8 tail (1 launch)",
                l => k.MatMulInt8ThenSwiGlu(weights[l].GateUp, qNorm.For(hidden), 1, gateUp.View, swiGluTails[l])),
        ];
        // Launched one by one, a tiny kernel shows the host's launch rate; replayed from a CUDA graph of 50 copies it
        // shows its time on the GPU (plus the GPU's own gap between graph nodes).
        bool graphs = gpu.SupportsGraphs && !_tiny;
        Line(graphs ? "| launch | µs one by one | µs on the GPU (graph of 50) | the same, layer 0's weights hot |" : "| launch | µs one by one |");
        Line(graphs ? "|---|---|---|---|" : "|---|---|");
        double layerSum = 0, layerGpu = 0;
        int turn = 0;
        Action InTurn(Action<int> launch) => () => launch(turn++ % layers); // each call the next layer's weights
        (double OneByOne, double OnGpu) Time(string name, Action<int> launch)
        {
            double seconds = Seconds(gpu, InTurn(launch), 200), onGpu = graphs ? GraphSeconds(gpu, InTurn(launch), 50) : double.NaN;
            double hot = graphs ? GraphSeconds(gpu, () => launch(0), 50) : double.NaN;
            Line(graphs ? $"| {name} | {seconds * 1e6:F2} | {onGpu * 1e6:F2} | {hot * 1e6:F2} |" : $"| {name} | {seconds * 1e6:F2} |");
            return (seconds, onGpu);
        }
        var (norm0, norm0Gpu) = Time("rmsnorm+int8 (the first layer's attention norm, once per token)", firstNorm);
        foreach (var (name, launch) in steps)
        {
            var (seconds, onGpu) = Time(name, launch);
            layerSum += seconds;
            layerGpu += onGpu;
        }
        Action lmHead = () => k.MatMulInt8(wHead, qNorm.For(hidden), 1, logits.View); // 306 MB: cold whatever happens
        double head = Seconds(gpu, lmHead, 50), headGpu = graphs ? GraphSeconds(gpu, lmHead, 10) : double.NaN;
        Line(graphs ? $"| lm_head {vocab}×{hidden} | {head * 1e6:F2} | {headGpu * 1e6:F2} |" : $"| lm_head {vocab}×{hidden} | {head * 1e6:F2} |");
        foreach (var (name, launch) in apart) Time(name, launch);
        // The split-K decode attention is latency-bound at short contexts (rows × kv heads × chunks groups); the chunk
        // size the model picks (ChunkSizeFor, never below 32) against smaller ones.
        foreach (int chunk in new[] { 8, 16, 32, 64 })
            Time($"for comparison: split-K attention + merge, chunks of {chunk}{(chunk == attention.Split.ChunkSizeFor(1, kvHeads, context) ? " (the model's)" : "")}",
                _ => k.Attention(attention.Args, 1, attention.Split, context, chunkSize: chunk, quantizeOutput: q.For(hidden)));
        Action wholeStep = () =>
        {
            firstNorm(0);
            for (int layer = 0; layer < layers; layer++)
                foreach (var (_, launch) in steps) launch(layer);
            lmHead();
        };
        double step = Seconds(gpu, wholeStep, 10);
        Line($"sum of the parts: {(norm0 + layerSum * layers + head) * 1e3:F2} ms; the same launches in one stream, no host work: {step * 1e3:F2} ms per token (the embedding gather not included: one tiny launch)");
        if (graphs)
        {
            double stepGpu = GraphSeconds(gpu, wholeStep, 1);
            double bytes = weights.Sum(w => (double)(w.Qkv.Bytes + w.O.Bytes + w.GateUp.Bytes + w.Down.Bytes)) + wHead.Bytes;
            Line($"on the GPU: parts {(norm0Gpu + layerGpu * layers + headGpu) * 1e3:F2} ms, the whole step as one graph {stepGpu * 1e3:F2} ms; its weights ({bytes / 1e9:F2} GB) at copy bandwidth: {bytes / _copyBandwidth * 1e3:F2} ms");
        }

        static GpuMatrix Random(GpuDevice gpu, int rows, int cols, int layer)
        {
            var m = GpuMatrix.Allocate(gpu, TensorType.Q4_0, rows, cols);
            m.Randomize(gpu, 12345 + (uint)layer);
            return m;
        }
    }

    /// <summary>One decoder layer's projections (the anatomy gives each layer its own, as the model has).</summary>
    private sealed record LayerWeights(GpuMatrix Qkv, GpuMatrix O, GpuMatrix GateUp, GpuMatrix Down);

    /// <summary>Disposes a set of objects together (the anatomy's 28 layers of weights).</summary>
    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        private readonly IDisposable[] _items = items.ToArray();

        public void Dispose()
        {
            foreach (var item in _items) item.Dispose();
        }
    }

    /// <summary>GPU time per call of <paramref name="launch"/>: <paramref name="copies"/> calls captured in one CUDA graph,
    /// the graph replayed (after a warm-up) and timed.</summary>
    private static double GraphSeconds(GpuDevice gpu, Action launch, int copies)
    {
        using var graph = gpu.CaptureGraph(() =>
        {
            for (int i = 0; i < copies; i++) launch();
        });
        return Seconds(gpu, graph.Launch, 20) / copies;
    }

    private static void Fill(GpuDevice gpu, ArrayView<float> view, long count)
    {
        // Small finite values: random halves' bit patterns scaled into floats would need a kernel; zeros + a pattern suffice.
        var host = new float[Math.Min(count, 1 << 20)];
        var random = new Random(1);
        for (int i = 0; i < host.Length; i++) host[i] = (float)(random.NextDouble() - 0.5);
        for (long at = 0; at < count; at += host.Length)
        {
            int n = (int)Math.Min(host.Length, count - at);
            view.SubView(at, n).CopyFromCPU(host.AsSpan(0, n));
        }
    }

    /// <summary>Registers, local (spill) and shared bytes of every kernel the run compiled, as the driver reports them.</summary>
    private static void KernelResourceTable(GpuDevice gpu)
    {
        var resources = gpu.Kernels.Resources;
        if (resources.Count == 0) return;
        Line("## kernel resources (cuFuncGetAttribute)");
        Line("| kernel | registers/thread | local bytes/thread | shared bytes/group |");
        Line("|---|---|---|---|");
        foreach (var r in resources.OrderBy(r => r.Kernel, StringComparer.Ordinal))
            Line($"| {r.Kernel.Replace("|", "\\|")} | {r.Registers} | {r.LocalBytes} | {r.SharedBytes} |");
    }

    private static void EndToEnd(GpuDevice gpu, bool quick)
    {
        var spec = _tiny
            ? SyntheticModelSpec.Create("toy", hidden: 256, layers: 1, heads: 4, kvHeads: 2, intermediate: 256, vocab: 264, tieEmbeddings: false)
            : SyntheticModelSpec.Preset("qwen2-7b-shape");
        Line($"## end to end: random {spec.Name} (hidden {spec.Llm.HiddenSize}, {spec.Llm.Layers} layers, ffn {spec.Llm.IntermediateSize}, vocab {spec.Llm.VocabSize})");
        bool graphs = gpu.SupportsGraphs;
        Line(graphs
            ? "Decode: 5 alternating blocks of steps on one sequence: Forward + host argmax with CUDA graphs on, then off, then greedy decoding on the device (Qwen2GpuModel.DecodeGreedy: argmax on the GPU, windows of steps queued without the host, graphs on) (medians; the three share the model, the context and the GPU's state)."
            : "Decode: Forward + host argmax launched one by one (no CUDA graphs on this device), alternating with greedy decoding on the device.");
        Line("| weights | activations | decode weight bytes/token | prefill 128 tok/s | decode ms/token, graph | decode ms/token, one by one | tok/s (best) | roofline ms/token | roofline ratio (best) | launches/token | device greedy ms/token (window) | its roofline ratio |");
        Line("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var variant in new DecodeVariant[]
        {
            new(TensorType.Q4_0, ActivationPrecision.Int8),
            new(TensorType.Q4_0, ActivationPrecision.Int8, FusedRope: false),
            new(TensorType.Q4_0, ActivationPrecision.Int8, FusedNorms: true),
            new(TensorType.Q4_0, ActivationPrecision.Int8, MergedAttention: true),
            new(TensorType.Q4_0, ActivationPrecision.Int8, FusedSwiGlu: true),
            new(TensorType.Q4_0, ActivationPrecision.Int8, MergedAttention: true, FusedSwiGlu: true),
            new(TensorType.Q4_0, ActivationPrecision.Float32),
            new(TensorType.Q4_K, ActivationPrecision.Int8), new(TensorType.Q4_K, ActivationPrecision.Float32),
            new(TensorType.Q5_K, ActivationPrecision.Int8), // Q5_K_M's main type (its float path: the matvec lines above)
            new(TensorType.F16, ActivationPrecision.Float32),
        })
            Guarded(() => EndToEndLine(gpu, spec, variant, graphs, quick));
        Guarded(() => BatchedDecodeLine(gpu, spec, quick));
        Guarded(() => SampledDecodeLine(gpu, spec, quick));
        foreach (var type in _tiny ? [TensorType.Q4_0] : new[] { TensorType.Q4_0, TensorType.F16 })
            Guarded(() => PrefillTensorCoreLine(gpu, spec, type));
        // Launches per decode token, counted (GpuKernels.Launches): embed; per layer norm, qkv (rope+cache in its
        // epilogue), attention + merge, o, norm, gate|up, silu·mul, down (with int8 activations the norms, silu·mul
        // and the merge quantize what they write, and the norms after o and down ride in those projections' tails
        // unless launched apart: 7 per layer and the first layer's norm); final norm, lm_head.
        foreach (var (label, launches) in _decodeLaunches)
            Line($"launches per decode token, {label}: {launches:F0} × {_launchSeconds * 1e6:F2} µs back-to-back launch cost = {launches * _launchSeconds * 1e3:F2} ms if launch-bound");
        Line("plus one logits copy (sync) per token");
    }

    private static readonly List<(string Label, double Launches)> _decodeLaunches = [];

    /// <summary>One row of the end-to-end table: weights, activations and the decode path's switches
    /// (<see cref="Qwen2GpuModel.FusedNorms"/>, <see cref="Qwen2GpuModel.FusedRope"/>,
    /// <see cref="Qwen2GpuModel.MergedAttention"/>, <see cref="Qwen2GpuModel.FusedSwiGlu"/>); rows that change a
    /// default name the change.</summary>
    private readonly record struct DecodeVariant(TensorType Type, ActivationPrecision Activations, bool FusedNorms = false,
        bool FusedRope = true, bool MergedAttention = false, bool FusedSwiGlu = false)
    {
        public string Label =>
            $"{Activations}{(FusedNorms ? ", norms in the projections' tails" : "")}{(FusedRope ? "" : ", RoPE launched apart")}" +
            $"{(MergedAttention ? ", attention merged in its tail" : "")}{(FusedSwiGlu ? ", SiLU·mul in the gate|up tail" : "")}";
    }

    private static void EndToEndLine(GpuDevice gpu, SyntheticModelSpec spec, DecodeVariant variant, bool graphs, bool quick)
    {
        var (type, activations) = (variant.Type, variant.Activations);
        using var model = Qwen2GpuModel.Random(gpu, spec.Llm, type,
            new Qwen2GpuOptions { KvCacheTokens = _tiny ? 64 : 1024, Activations = activations });
        model.FusedNorms = variant.FusedNorms;
        model.FusedRope = variant.FusedRope;
        model.MergedAttention = variant.MergedAttention;
        model.FusedSwiGlu = variant.FusedSwiGlu;
        string label = variant.Label;
        var random = new Random(3);
        int prompt = _tiny ? 5 : 128, blocks = _tiny ? 1 : 5, blockSteps = _tiny ? 1 : quick ? 8 : 32;
        var ids = Enumerable.Range(0, prompt).Select(_ => random.Next(spec.Llm.VocabSize)).ToArray();

        // Warm-up (kernel compilation; not in the smoke run), then a timed prefill on a fresh sequence.
        if (!_tiny)
        {
            var warm = model.CreateSequence();
            model.Forward([new ForwardRequest { Sequence = warm, Tokens = ids }]);
            model.Forward([new ForwardRequest { Sequence = warm, Tokens = new[] { 1 } }]);
            model.Forward([new ForwardRequest { Sequence = warm, Tokens = new[] { 2 } }]); // captures the CUDA graph, if any
            DeviceGreedy(model, warm, 3, 2 * GreedyWindow); // compiles the argmax and advance, captures their graph
            model.FreeSequence(warm);
        }

        var sequence = model.CreateSequence();
        var watch = Stopwatch.StartNew();
        var request = new ForwardRequest { Sequence = sequence, Tokens = ids };
        model.Forward([request]);
        double prefill = watch.Elapsed.TotalSeconds;
        var logits = request.Logits!;
        var withGraphs = new List<double>();
        var oneByOne = new List<double>();
        var onDevice = new List<double>();
        double launches = 0, deviceLaunches = 0;
        for (int block = 0; block < blocks; block++)
        {
            foreach (bool useGraphs in graphs ? new[] { true, false } : new[] { false })
            {
                model.CudaGraphs = useGraphs;
                long launchesBefore = gpu.Kernels.Launches;
                watch.Restart();
                for (int s = 0; s < blockSteps; s++)
                {
                    var step = new ForwardRequest { Sequence = sequence, Tokens = new[] { ArgMax(logits) }, Logits = logits };
                    model.Forward([step]);
                }
                (useGraphs ? withGraphs : oneByOne).Add(watch.Elapsed.TotalSeconds / blockSteps);
                launches = (double)(gpu.Kernels.Launches - launchesBefore) / blockSteps;
            }
            // The same number of steps (passes) decoded greedily on the device; its last id is not fed.
            model.CudaGraphs = true;
            long deviceBefore = gpu.Kernels.Launches;
            watch.Restart();
            DeviceGreedy(model, sequence, ArgMax(logits), blockSteps);
            onDevice.Add(watch.Elapsed.TotalSeconds / blockSteps);
            deviceLaunches = (double)(gpu.Kernels.Launches - deviceBefore) / blockSteps;
        }
        double graphToken = withGraphs.Count > 0 ? Median(withGraphs) : double.NaN, plainToken = Median(oneByOne);
        double best = graphs ? Math.Min(graphToken, plainToken) : plainToken;
        _decodeLaunches.Add(($"{type} {label}", launches));
        double roofline = model.DecodeWeightBytes / _copyBandwidth, deviceToken = Median(onDevice);
        string graphCell = graphs ? $"{graphToken * 1e3:F2}" : "—";
        Line($"| {type} | {label} | {model.DecodeWeightBytes / 1e9:F2} GB | {prompt / prefill:F0} | {graphCell} | {plainToken * 1e3:F2} | {1 / best:F1} | {roofline * 1e3:F2} | {roofline / best:P0} | {launches:F0} | {deviceToken * 1e3:F2} ({GreedyWindow}) | {roofline / deviceToken:P0} |");
        _decodeLaunches.Add(($"{type} {label}, device greedy", deviceLaunches));
        if (model.GraphFallbackReason is { } reason) Line($"CUDA graphs fell back to one-by-one launches: {reason}");
        model.FreeSequence(sequence);
    }

    /// <summary>
    /// Decode steps of several sequences in one pass (a server's batch): Q4_0, int8 activations, one new token per
    /// sequence per step, launched one by one (graphs take one-row steps only), against one sequence's step the same
    /// way. The int8 matvecs read the weights once from memory and the later tokens' from L2, so a step of 4 should cost
    /// well under 4 steps of 1.
    /// </summary>
    private static void BatchedDecodeLine(GpuDevice gpu, SyntheticModelSpec spec, bool quick)
    {
        const int batch = Int8MatVecFixture.BatchTokens;
        using var model = Qwen2GpuModel.Random(gpu, spec.Llm, TensorType.Q4_0,
            new Qwen2GpuOptions { KvCacheTokens = _tiny ? 64 : 2048, Activations = ActivationPrecision.Int8, CudaGraphs = false });
        var random = new Random(5);
        int prompt = _tiny ? 3 : 64, steps = _tiny ? 1 : quick ? 8 : 32;
        var sequences = Enumerable.Range(0, batch).Select(_ => model.CreateSequence()).ToArray();
        var last = new int[batch];
        foreach (var (sequence, i) in sequences.Select((s, i) => (s, i)))
        {
            var request = new ForwardRequest { Sequence = sequence, Tokens = Enumerable.Range(0, prompt).Select(_ => random.Next(spec.Llm.VocabSize)).ToArray() };
            model.Forward([request]);
            last[i] = ArgMax(request.Logits!);
        }
        void Step(int rows)
        {
            var requests = Enumerable.Range(0, rows).Select(i => new ForwardRequest { Sequence = sequences[i], Tokens = new[] { last[i] } }).ToArray();
            model.Forward(requests);
            for (int i = 0; i < rows; i++) last[i] = ArgMax(requests[i].Logits!);
        }
        if (!_tiny) { Step(batch); Step(1); } // warm-up
        var watch = Stopwatch.StartNew();
        for (int s = 0; s < steps; s++) Step(1);
        double one = watch.Elapsed.TotalSeconds / steps;
        watch.Restart();
        for (int s = 0; s < steps; s++) Step(batch);
        double many = watch.Elapsed.TotalSeconds / steps;
        Line($"batched decode, Q4_0 int8, one by one: {batch} sequences {many * 1e3:F2} ms/step ({batch / many:F0} tok/s) against 1 sequence {one * 1e3:F2} ms/step ({1 / one:F0} tok/s): {many / one:F2}× the time for {batch}× the tokens");
        foreach (var sequence in sequences) model.FreeSequence(sequence);
    }

    /// <summary>
    /// Sampled generation with MiniCPM's chat settings (temperature 0.7, top-k 100, top-p 0.8, repetition penalty
    /// 1.05) through the engine's Generator, Q4_0 int8, graphs on: each step reading back the device's top-k candidates
    /// (Qwen2GpuModel.FeedForCandidates) against each step reading back the whole logits row and running the host's
    /// pipeline over the vocabulary. The same seed gives the same tokens both ways; ms per token from the second token
    /// on (the prompt's prefill left out).
    /// </summary>
    private static void SampledDecodeLine(GpuDevice gpu, SyntheticModelSpec spec, bool quick)
    {
        using var model = Qwen2GpuModel.Random(gpu, spec.Llm, TensorType.Q4_0,
            new Qwen2GpuOptions { KvCacheTokens = _tiny ? 64 : 1024, Activations = ActivationPrecision.Int8 });
        var random = new Random(7);
        var prompt = Enumerable.Range(0, _tiny ? 3 : 16).Select(_ => random.Next(spec.Llm.VocabSize)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = _tiny ? 3 : quick ? 32 : 128, Seed = 5 };
        (double Seconds, int[] Tokens, long Fallbacks) Run(bool candidates)
        {
            model.LogitCandidates = candidates;
            long before = model.CandidateSteps;
            var tokens = new List<int>();
            var watch = new Stopwatch();
            foreach (var token in new Generator(model).Stream(prompt, options))
            {
                if (tokens.Count == 0) watch.Start(); // the first token comes from the prefill
                tokens.Add(token.TokenId);
            }
            return (watch.Elapsed.TotalSeconds / Math.Max(1, tokens.Count - 1), tokens.ToArray(), model.CandidateSteps - before);
        }
        if (!_tiny) { Run(true); Run(false); } // warm-up: kernels, graphs
        var rows = Run(false);
        var candidates = Run(true);
        Line($"sampled decode (T 0.7, top-k 100, top-p 0.8, penalty 1.05), Q4_0 int8, graphs on: top-k candidates read back {candidates.Seconds * 1e3:F2} ms/token, whole logits rows {rows.Seconds * 1e3:F2} ms/token ({rows.Seconds / candidates.Seconds:F2}×); {candidates.Tokens.Length} tokens, {(candidates.Tokens.SequenceEqual(rows.Tokens) ? "the same" : "DIFFERENT")} both ways");
    }

    /// <summary>
    /// Prefill of one 512-token prompt (tiled products past GpuKernels.TiledMinTokens) with the matmuls on CUDA cores
    /// and on the TF32 tensor cores, float activations: tokens/s both ways and how far the last row's logits moved,
    /// relative to their largest magnitude (float32 rounding in another order, ~1e-6, not TF32's ~1e-3).
    /// </summary>
    private static void PrefillTensorCoreLine(GpuDevice gpu, SyntheticModelSpec spec, TensorType type)
    {
        if (!gpu.Kernels.HasTensorCores && !gpu.IsSimulator)
        {
            Line($"prefill, {type}: no tensor cores on this device");
            return;
        }
        using var model = Qwen2GpuModel.Random(gpu, spec.Llm, type,
            new Qwen2GpuOptions { KvCacheTokens = _tiny ? 128 : 1024, Activations = ActivationPrecision.Float32 });
        int prompt = _tiny ? 64 : 512;
        var random = new Random(9);
        var ids = Enumerable.Range(0, prompt).Select(_ => random.Next(spec.Llm.VocabSize)).ToArray();
        (double Seconds, float[] Logits) Prefill(bool onTensorCores) => new KernelPath(onTensorCores).Run(gpu, () =>
        {
            var sequence = model.CreateSequence();
            var request = new ForwardRequest { Sequence = sequence, Tokens = ids };
            var watch = Stopwatch.StartNew();
            model.Forward([request]);
            double seconds = watch.Elapsed.TotalSeconds;
            model.FreeSequence(sequence);
            return (seconds, request.Logits!.ToArray());
        });
        if (!_tiny) { Prefill(false); Prefill(true); } // warm-up: kernel compilation, scratch
        var cudaCores = Prefill(false);
        var tensor = Prefill(true);
        string where = gpu.Kernels.TensorCoreFallbackReason is null ? "TF32 tensor cores" : $"CUDA cores again (tensor cores off: {gpu.Kernels.TensorCoreFallbackReason})";
        Line($"prefill {prompt} tokens, {type}, float activations: CUDA cores {prompt / cudaCores.Seconds:F0} tok/s, {where} {prompt / tensor.Seconds:F0} tok/s ({cudaCores.Seconds / tensor.Seconds:F2}×); last row's logits max |difference| {RelativeDifference(cudaCores.Logits, tensor.Logits):E1} of max |logit|");
    }

    /// <summary>Steps per host round trip of the device greedy decoding (Qwen2GpuOptions.GreedyWindow's default).</summary>
    private static readonly int GreedyWindow = new Qwen2GpuOptions().GreedyWindow;

    /// <summary>Feeds <paramref name="token"/> and decodes greedily on the device until <paramref name="steps"/> ids are
    /// chosen (as many passes), window after window.</summary>
    private static void DeviceGreedy(Qwen2GpuModel model, SequenceId sequence, int token, int steps)
    {
        int chosen = 0;
        while (chosen < steps)
        {
            int last = token;
            model.DecodeGreedy(sequence, token, default, steps - chosen, id =>
            {
                last = id;
                return ++chosen < steps;
            });
            token = last;
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>Greedy pick as the engine's throughput harness makes it (vectorized; a scalar loop over 152K logits is
    /// ~0.1 ms, a visible part of a 2 ms step).</summary>
    private static int ArgMax(float[] values) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(values);
}
