using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The compiled kernels of one accelerator and their launch shapes. Each launch is queued on <see cref="Stream"/> (the
/// accelerator's default stream) and returns at once; nothing here synchronizes.
/// </summary>
public sealed class GpuKernels
{
    private readonly KernelLoader _loader;
    private readonly Dictionary<(Type Format, Type Output), Delegate> _matMuls = [];
    private readonly Dictionary<Type, Delegate> _tiledMatMuls = [];
    private readonly Dictionary<Type, Delegate> _tensorCoreMatMuls = [];
    private readonly Dictionary<Type, Delegate> _gathers = [];
    private readonly Dictionary<(Type Format, Type Output, Type Tail), Delegate> _int8MatVecs = [];
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, Int8Blocks, int>? _quantize;
    private Action<AcceleratorStream, KernelConfig, NormArgs>? _rmsNorm, _layerNorm;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, int>? _softmax;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _add, _siluMul;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>>? _geluTanh;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int>? _siluMulFused;
    private Action<AcceleratorStream, Index1D, RopeArgs>? _rope;
    private Action<AcceleratorStream, KernelConfig, AttentionArgs>? _attention;
    private Action<AcceleratorStream, KernelConfig, SplitAttentionArgs>? _splitAttention;
    private Action<AcceleratorStream, KernelConfig, PrefillAttentionArgs>? _prefillAttention;
    private Action<AcceleratorStream, KernelConfig, SplitAttentionArgs, int>? _splitMerge;
    private Action<AcceleratorStream, KernelConfig, SplitAttentionArgs, AttentionMergeTail>? _splitThenMerge;
    private Action<AcceleratorStream, KernelConfig, SplitAttentionArgs, Int8Blocks, int>? _splitMergeInt8;
    private Action<AcceleratorStream, Index1D, ArrayView<uint>, uint, int>? _randomWords;
    private Action<AcceleratorStream, Index1D, ArrayView<ushort>, uint>? _randomHalves;

    internal GpuKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _loader = new KernelLoader(accelerator);
        Stream = accelerator.DefaultStream;
        HasTensorCores = accelerator is CudaAccelerator cuda && cuda.Architecture is { } arch && arch >= CudaArchitecture.SM_80;
        _tensorCores = HasTensorCores;
    }

    private readonly Accelerator _accelerator;

    /// <summary>
    /// The stream every launch below is queued on: the accelerator's default stream, except while a decode step is
    /// being captured into a CUDA graph (<see cref="GpuDevice.CaptureGraph"/>), which needs a stream of its own.
    /// </summary>
    public AcceleratorStream Stream { get; internal set; }

    /// <summary>Tokens from which <see cref="MatMul(GpuMatrix, ArrayView{float}, int, ArrayView{float}, ArrayView{float}, bool, int)"/>
    /// takes the shared-memory tiled kernel (<see cref="TiledMatMulKernel"/>); fewer take <see cref="MatMulKernel"/>
    /// (decode, short prompts). Measured on an H200 at 7B q|k|v (4608×3584): the tiled kernel is 0.37–0.58× as fast at
    /// 16 tokens (its Rows / 64 groups leave most of the GPU idle), 0.69–1.12× at 32, 1.3–2.1× at 64, and 4.6–6.7× at
    /// 128 tokens of the wide gate|up; 48 sits at the crossover. int.MaxValue: never tiled (benchmarks compare both).</summary>
    public int TiledMinTokens { get; set; } = 48;

    /// <summary>Whether the device has TF32 tensor cores (<c>mma.sync</c> m16n8k8 .tf32: CUDA, compute capability 8.0 and up).</summary>
    public bool HasTensorCores { get; }

    /// <summary>
    /// Whether the tiled products (from <see cref="TiledMinTokens"/> tokens: prefill, the vision and audio towers) run
    /// on the tensor cores (<see cref="TensorCoreMatMulKernel"/>, float32 accuracy through the 3xTF32 split) rather
    /// than CUDA-core FMAs (<see cref="TiledMatMulKernel"/>). On by default where <see cref="HasTensorCores"/>. The
    /// first such product checks the tensor-core kernel against the CUDA-core one on a probe (<see cref="TensorCoreProbe"/>):
    /// a kernel the driver refuses, or results that disagree, turn it off for the device, and
    /// <see cref="TensorCoreFallbackReason"/> says why. Off the GPU (ILGPU's simulator) it is off by default; set, the
    /// simulator emulates the instruction from its fragment table (<see cref="Tf32MmaEmulation"/>: the tests), without the probe.
    /// </summary>
    public bool TensorCores
    {
        get => _tensorCores;
        set => _tensorCores = value && TensorCoreFallbackReason is null; // a device whose probe failed keeps them off
    }

    private bool _tensorCores;
    private bool _tensorCoresProbed;

    /// <summary>Why <see cref="TensorCores"/> went off after the probe (null while it has not).</summary>
    public string? TensorCoreFallbackReason { get; private set; }

    /// <summary>Y[t] = W·X[t] (+ bias) (+ Y[t] when <paramref name="accumulate"/>), for <paramref name="tokens"/> rows of X.</summary>
    /// <remarks><paramref name="yStride"/>: floats per output row (0: the matrix's rows); <paramref name="y"/> may be a
    /// view at an offset into a wider output, so a fused projection writes its part of each row.</remarks>
    public void MatMul(GpuMatrix w, ArrayView<float> x, int tokens, ArrayView<float> y, ArrayView<float> bias = default,
        bool accumulate = false, int yStride = 0)
    {
        if (tokens <= 0) return;
        var store = Store(w, y, bias, accumulate, yStride);
        if (tokens >= TiledMinTokens)
        {
            var tiled = new TiledMatMulLaunch(this, w, x, tokens, store);
            w.Accept(ref tiled);
            return;
        }
        var launch = new MatMulLaunch<RowPairStore>(this, w, x, tokens, store);
        w.Accept(ref launch);
    }

    /// <summary>
    /// The q|k|v projection (or the dtype run of it starting at <paramref name="column"/> of the q|k|v row) from float
    /// activations with <see cref="RopeAndCache"/> fused into its epilogue, as <see cref="MatMulInt8RopeAndCache"/>:
    /// bit for bit what <see cref="MatMul(GpuMatrix, ArrayView{float}, int, ArrayView{float}, ArrayView{float}, bool, int)"/>
    /// + <see cref="RopeAndCache"/> leave below <see cref="TiledMinTokens"/> tokens, in one launch. Always
    /// <see cref="MatMulKernel"/> (the tiled kernel has no pair epilogue): meant for batches below that threshold.
    /// </summary>
    public void MatMulRopeAndCache(GpuMatrix w, ArrayView<float> x, int tokens, RopeArgs rope, int column, ArrayView<float> bias = default)
    {
        var output = RopeCache(w, rope, column, bias);
        if (tokens <= 0) return;
        var launch = new MatMulLaunch<RopeCacheOutput>(this, w, x, tokens, output);
        w.Accept(ref launch);
    }

    /// <summary>The plain products' epilogue; <paramref name="yStride"/> 0: the matrix's rows.</summary>
    private static RowPairStore Store(GpuMatrix w, ArrayView<float> y, ArrayView<float> bias, bool accumulate, int yStride) => new()
    {
        Y = y, Bias = bias.IsValid ? bias : y, YStride = yStride > 0 ? yStride : w.Rows, Rows = w.Rows,
        HasBias = bias.IsValid ? 1 : 0, Accumulate = accumulate ? 1 : 0,
    };

    /// <summary>The checked epilogue of the RoPE-fused projections: <paramref name="w"/>'s rows must be whole heads of the q|k|v row.</summary>
    private static RopeCacheOutput RopeCache(GpuMatrix w, RopeArgs rope, int column, ArrayView<float> bias)
    {
        int width = (rope.Heads + 2 * rope.KvHeads) * rope.HeadDim;
        if (rope.HeadDim < 2 || rope.HeadDim % 2 != 0) throw new ArgumentException($"head dimension {rope.HeadDim} is not even", nameof(rope));
        if (column < 0 || column % rope.HeadDim != 0 || w.Rows % rope.HeadDim != 0 || column + w.Rows > width)
            throw new ArgumentException($"rows {column}..{column + w.Rows} of a {width}-wide q|k|v row are not whole heads of {rope.HeadDim}", nameof(column));
        if (rope.RowStride < width) throw new ArgumentException($"row stride {rope.RowStride} is narrower than q|k|v ({width})", nameof(rope));
        return new RopeCacheOutput { Rope = rope, Column = column, Bias = bias.IsValid ? bias : rope.Qkv, HasBias = bias.IsValid ? 1 : 0 };
    }

    /// <summary>A float product's arguments, carried through <see cref="GpuMatrix.Accept{TVisitor}"/> to the
    /// <see cref="MatMulKernel"/> launch for the matrix's format.</summary>
    private readonly struct MatMulLaunch<TOutput>(GpuKernels kernels, GpuMatrix w, ArrayView<float> x, int tokens, TOutput output)
        : IRowFormatVisitor where TOutput : struct, IRowPairOutput
    {
        public void Visit<TFormat>(TFormat format) where TFormat : struct, IRowFormat =>
            kernels.MatMul(new MatMulArgs<TFormat, TOutput> { Weights = format, X = x, Rows = w.Rows, Cols = w.Cols, Tokens = tokens, Output = output });

        public void VisitInt8<TFormat, TWords>(TFormat format) where TFormat : struct, IRowFormat, IInt8RowFormat<TWords> where TWords : struct =>
            Visit(format);
    }

    /// <summary>As <see cref="MatMulLaunch{TOutput}"/> for the <see cref="TiledMatMulKernel"/> (plain stores only).</summary>
    private readonly struct TiledMatMulLaunch(GpuKernels kernels, GpuMatrix w, ArrayView<float> x, int tokens, RowPairStore output)
        : IRowFormatVisitor
    {
        public void Visit<TFormat>(TFormat format) where TFormat : struct, IRowFormat =>
            kernels.TiledMatMul(new MatMulArgs<TFormat, RowPairStore> { Weights = format, X = x, Rows = w.Rows, Cols = w.Cols, Tokens = tokens, Output = output });

        public void VisitInt8<TFormat, TWords>(TFormat format) where TFormat : struct, IRowFormat, IInt8RowFormat<TWords> where TWords : struct =>
            Visit(format);
    }

    /// <summary>The tiled product (or <paramref name="batches"/> of them, see <see cref="MatMulBatch"/>) on the tensor
    /// cores or the CUDA cores.</summary>
    private void TiledMatMul<TFormat>(MatMulArgs<TFormat, RowPairStore> args, MatMulBatch batch = default, int batches = 1) where TFormat : struct, IRowFormat
    {
        if (TensorCores && TensorCoresPassProbe())
        {
            TensorCoreMatMul(args, batch, batches);
            return;
        }
        CudaCoreTiledMatMul(args, batch, batches);
    }

    /// <summary>
    /// On a CUDA device, the first tensor-core product runs <see cref="TensorCoreProbe"/> (and turns
    /// <see cref="TensorCores"/> off for good if it fails); the simulator's emulation is taken as set. The probe
    /// allocates and synchronizes, so it runs on the default stream only: a product queued while a graph is being
    /// captured takes the CUDA-core kernel until the probe has run.
    /// </summary>
    private bool TensorCoresPassProbe()
    {
        if (_accelerator is not CudaAccelerator) return true;
        if (_tensorCoresProbed) return TensorCoreFallbackReason is null;
        if (Stream != _accelerator.DefaultStream) return false;
        _tensorCoresProbed = true;
        TensorCoreFallbackReason = TensorCoreProbe.Run(this, _accelerator);
        if (TensorCoreFallbackReason is null) return true;
        _tensorCores = false;
        return false;
    }

    internal void TensorCoreMatMul<TFormat>(MatMulArgs<TFormat, RowPairStore> args, MatMulBatch batch = default, int batches = 1)
        where TFormat : struct, IRowFormat
    {
        if (!_tensorCoreMatMuls.TryGetValue(typeof(TFormat), out var kernel))
            _tensorCoreMatMuls[typeof(TFormat)] = kernel = _accelerator is CudaAccelerator
                ? _loader.LoadKernel<MatMulArgs<TFormat, RowPairStore>, int, MatMulBatch>(TensorCoreMatMulKernel.Kernel<TFormat, Tf32MmaInstruction>)
                : _loader.LoadKernel<MatMulArgs<TFormat, RowPairStore>, int, MatMulBatch>(TensorCoreMatMulKernel.Kernel<TFormat, Tf32MmaEmulation>);
        var tiles = new Index3D(
            (args.Rows + TensorCoreMatMulKernel.TileRows - 1) / TensorCoreMatMulKernel.TileRows,
            (args.Tokens + TensorCoreMatMulKernel.TileTokens - 1) / TensorCoreMatMulKernel.TileTokens, batches);
        int weightsAreTf32 = typeof(TFormat) == typeof(F16Rows) || typeof(TFormat) == typeof(Bf16Rows) ? 1 : 0;
        Launches++;
        ((Action<AcceleratorStream, KernelConfig, MatMulArgs<TFormat, RowPairStore>, int, MatMulBatch>)kernel)(
            Stream, new KernelConfig(tiles, new Index3D(TensorCoreMatMulKernel.GroupSize, 1, 1)), args, weightsAreTf32, batch);
    }

    internal void CudaCoreTiledMatMul<TFormat>(MatMulArgs<TFormat, RowPairStore> args, MatMulBatch batch = default, int batches = 1)
        where TFormat : struct, IRowFormat
    {
        if (!_tiledMatMuls.TryGetValue(typeof(TFormat), out var tiled))
            _tiledMatMuls[typeof(TFormat)] = tiled = _loader.LoadKernel<MatMulArgs<TFormat, RowPairStore>, MatMulBatch>(TiledMatMulKernel.Kernel);
        var tiles = new Index3D(
            (args.Rows + TiledMatMulKernel.TileRows - 1) / TiledMatMulKernel.TileRows,
            (args.Tokens + TiledMatMulKernel.TileTokens - 1) / TiledMatMulKernel.TileTokens, batches);
        Launches++;
        ((Action<AcceleratorStream, KernelConfig, MatMulArgs<TFormat, RowPairStore>, MatMulBatch>)tiled)(
            Stream, new KernelConfig(tiles, new Index3D(TiledMatMulKernel.GroupSize, 1, 1)), args, batch);
    }

    private void MatMul<TFormat, TOutput>(MatMulArgs<TFormat, TOutput> args) where TFormat : struct, IRowFormat where TOutput : struct, IRowPairOutput
    {
        var key = (typeof(TFormat), typeof(TOutput));
        if (!_matMuls.TryGetValue(key, out var kernel))
            _matMuls[key] = kernel = _loader.LoadKernel<MatMulArgs<TFormat, TOutput>>(MatMulKernel.Kernel);
        var grid = new Index2D(
            (args.Rows + MatMulKernel.RowsPerGroup(args.Cols) - 1) / MatMulKernel.RowsPerGroup(args.Cols),
            (args.Tokens + MatMulKernel.TokensPerGroup - 1) / MatMulKernel.TokensPerGroup);
        Launches++;
        ((Action<AcceleratorStream, KernelConfig, MatMulArgs<TFormat, TOutput>>)kernel)(Stream, new KernelConfig(grid, new Index2D(MatMulKernel.GroupSize, 1)), args);
    }

    /// <summary>Whether <see cref="MatMulInt8"/> reads <paramref name="type"/> weights.</summary>
    /// <remarks>The K-quants multiply the same 32-value activation blocks (llama.cpp's CUDA mmvq pairs them with Q8_1
    /// too), one sub-block per activation block; the CPU's int8 path uses 256-value Q8_K blocks instead, so CPU and GPU
    /// int8 results for K-quant weights differ by activation rounding, by design.</remarks>
    public static bool HasInt8Kernel(TensorType type) =>
        type is TensorType.Q4_0 or TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q8_0
            or TensorType.Q2_K or TensorType.Q3_K or TensorType.Q4_K or TensorType.Q5_K or TensorType.Q6_K;

    /// <summary>Quantizes <paramref name="tokens"/> rows of <paramref name="cols"/> floats to int8 blocks (ggml's Q8_0).</summary>
    public void QuantizeInt8(ArrayView<float> x, int tokens, int cols, Int8Blocks q)
    {
        if (tokens <= 0) return;
        _quantize ??= _loader.LoadKernel<ArrayView<float>, Int8Blocks, int>(Int8Quantizer.Kernel);
        Launches++;
        int quads = tokens * (cols / 4);
        _quantize(Stream, QuadConfig(quads), x, q, quads);
    }

    /// <summary>Y[t] = W·X[t] (+ bias) (+ Y[t]) with X already quantized (<see cref="QuantizeInt8"/>); see <see cref="MatMul(GpuMatrix, ArrayView{float}, int, ArrayView{float}, ArrayView{float}, bool, int)"/>.</summary>
    /// <param name="teamWarps">Warps per row pair: 0 for the kernel's choice (<see cref="Int8MatVecKernel.TeamWarps"/>),
    /// or 1, 2, 4 to compare widths on a device.</param>
    public void MatMulInt8(GpuMatrix w, Int8Blocks x, int tokens, ArrayView<float> y, ArrayView<float> bias = default,
        bool accumulate = false, int yStride = 0, int teamWarps = 0)
    {
        if (teamWarps is not (0 or 1 or 2 or 4))
            throw new ArgumentOutOfRangeException(nameof(teamWarps), teamWarps, "a row pair's team is 1, 2 or 4 warps (0: the kernel's choice)");
        if (tokens <= 0) return;
        Int8MatVec(w, x, tokens, Store(w, y, bias, accumulate, yStride), default(NoTail), teamWarps);
    }

    /// <summary>
    /// The q|k|v projection (or the dtype run of it starting at <paramref name="column"/> of the q|k|v row) from int8
    /// activations, with <see cref="RopeAndCache"/> fused into its epilogue (<see cref="RopeCacheOutput"/>): Qkv and
    /// the caches end as the plain product + bias followed by <see cref="RopeAndCache"/> leave them, bit for bit, in
    /// one launch. <paramref name="rope"/>'s RowStride is the whole q|k|v row.
    /// </summary>
    public void MatMulInt8RopeAndCache(GpuMatrix w, Int8Blocks x, int tokens, RopeArgs rope, int column, ArrayView<float> bias = default)
    {
        var output = RopeCache(w, rope, column, bias);
        if (tokens <= 0) return;
        Int8MatVec(w, x, tokens, output);
    }

    /// <summary>
    /// <see cref="MatMulInt8"/> with <paramref name="norm"/> as its tail: once every group of every launch that writes
    /// token t's row (<see cref="RmsNormTail"/>.Groups) is done, the last of them writes RMSNorm(y[t]) and its int8
    /// blocks, bit for bit what <see cref="RmsNormInt8"/> would write after the product — one launch instead of two.
    /// <paramref name="w"/> may be one dtype run of the row (<paramref name="y"/> a view at its offset): launch every
    /// run with the same tail. The tail's blocks must not be <paramref name="x"/>'s: a token's norm may run while
    /// another token's groups still read their activations.
    /// </summary>
    public void MatMulInt8ThenRmsNorm(GpuMatrix w, Int8Blocks x, int tokens, ArrayView<float> y, RmsNormTail norm,
        ArrayView<float> bias = default, bool accumulate = false, int yStride = 0)
    {
        var store = Store(w, y, bias, accumulate, yStride);
        if (store.YStride != norm.Norm.Cols)
            throw new ArgumentException($"the norm reads rows of {norm.Norm.Cols}; the product writes rows of {store.YStride}", nameof(norm));
        if (tokens > norm.Counters.Length)
            throw new ArgumentException($"{tokens} tokens, {norm.Counters.Length} tail counters", nameof(tokens));
        if (tokens <= 0) return;
        Int8MatVec(w, x, tokens, store, norm);
    }

    /// <summary>
    /// The tail of <see cref="MatMulInt8ThenRmsNorm"/> for a row of weight.Length values that <paramref name="parts"/>
    /// write between them (their rows add up to the row): <paramref name="y"/> is the whole rows the product writes
    /// (from column 0), <paramref name="normed"/> and <paramref name="q"/> what <see cref="RmsNormInt8"/> would write.
    /// </summary>
    public static RmsNormTail RmsNormTail(ArrayView<float> y, ArrayView<float> weight, float eps, ArrayView<float> normed,
        Int8Blocks q, TokenCounters counters, IEnumerable<GpuMatrix> parts)
    {
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(parts);
        if (weight.Length % 32 != 0) throw new ArgumentException($"{weight.Length} columns are not whole int8 blocks of 32", nameof(weight));
        var matrices = parts.ToArray();
        if (matrices.Sum(m => (long)m.Rows) != weight.Length)
            throw new ArgumentException($"the parts write {matrices.Sum(m => (long)m.Rows)} of the norm's {weight.Length} columns", nameof(parts));
        return new RmsNormTail
        {
            Norm = new RmsNormInt8Args { X = y, Y = normed, Weight = weight, Q = q, Cols = (int)weight.Length, Eps = eps },
            Counters = counters.View, Groups = matrices.Sum(Int8MatVecGroups),
        };
    }

    /// <summary>
    /// The gate|up projection (<paramref name="gateUp"/>: gate rows then up rows, one matrix) from int8 blocks, with
    /// <paramref name="swiGlu"/> as its tail: y holds the product as <see cref="MatMulInt8"/> leaves it, and the tail's
    /// Y and Q what <see cref="SiluMulFusedInt8"/> would write after it, bit for bit, in one launch instead of two.
    /// The tail's blocks must not be <paramref name="x"/>'s: a block is made while other groups still read theirs.
    /// </summary>
    public void MatMulInt8ThenSwiGlu(GpuMatrix gateUp, Int8Blocks x, int tokens, ArrayView<float> y, SwiGluInt8Tail swiGlu)
    {
        ArgumentNullException.ThrowIfNull(gateUp);
        if (gateUp.Rows != 2 * swiGlu.Width)
            throw new ArgumentException($"{gateUp.Rows} rows are not gate and up of {swiGlu.Width} each", nameof(gateUp));
        if (swiGlu.RowsPerGroup != Int8MatVecKernel.RowsPerGroup(Int8MatVecKernel.TeamWarps(gateUp.Cols)))
            throw new ArgumentException("the tail was made for another team width", nameof(swiGlu));
        if ((long)tokens * (swiGlu.Width / 32) > swiGlu.Counters.Length)
            throw new ArgumentException($"{tokens} tokens, {swiGlu.Counters.Length} block counters", nameof(tokens));
        if (tokens <= 0) return;
        Int8MatVec(gateUp, x, tokens, Store(gateUp, y, default, accumulate: false, yStride: 0), swiGlu);
    }

    /// <summary>The tail of <see cref="MatMulInt8ThenSwiGlu"/> for <paramref name="gateUp"/>: its product's rows are
    /// <paramref name="gateUpRows"/>; SiLU·mul goes to <paramref name="y"/> and <paramref name="q"/>.</summary>
    public static SwiGluInt8Tail SwiGluTail(GpuMatrix gateUp, ArrayView<float> gateUpRows, ArrayView<float> y, Int8Blocks q, TokenCounters counters)
    {
        ArgumentNullException.ThrowIfNull(gateUp);
        ArgumentNullException.ThrowIfNull(counters);
        int width = gateUp.Rows / 2;
        if (gateUp.Rows % 2 != 0 || width % 32 != 0)
            throw new ArgumentException($"gate|up of {gateUp.Rows} rows: gate and up must be whole int8 blocks of 32", nameof(gateUp));
        if (counters.PerToken < width / 32)
            throw new ArgumentException($"{counters.PerToken} counters per token for {width / 32} blocks", nameof(counters));
        return new SwiGluInt8Tail
        {
            GateUp = gateUpRows, Y = y, Q = q, Counters = counters.View, Width = width,
            RowsPerGroup = Int8MatVecKernel.RowsPerGroup(Int8MatVecKernel.TeamWarps(gateUp.Cols)),
        };
    }

    /// <summary>Groups per token of <paramref name="w"/>'s int8 matrix-vector launch at the kernel's team width.</summary>
    private static int Int8MatVecGroups(GpuMatrix w) => Int8MatVecKernel.Groups(w.Rows, Int8MatVecKernel.TeamWarps(w.Cols));

    private void Int8MatVec<TOutput>(GpuMatrix w, Int8Blocks x, int tokens, TOutput output) where TOutput : struct, IRowPairOutput =>
        Int8MatVec(w, x, tokens, output, default(NoTail));

    /// <summary>Tails count the launch's groups (<see cref="RmsNormTail"/>), so only a plain product takes another
    /// <paramref name="teamWarps"/> than the kernel's choice (0).</summary>
    private void Int8MatVec<TOutput, TTail>(GpuMatrix w, Int8Blocks x, int tokens, TOutput output, TTail tail, int teamWarps = 0)
        where TOutput : struct, IRowPairOutput where TTail : struct, IMatVecTail
    {
        if (!HasInt8Kernel(w.Type)) throw NoInt8Kernel(w.Type);
        var launch = new Int8MatVecLaunch<TOutput, TTail>(this, w, x, tokens, output, tail,
            teamWarps == 0 ? Int8MatVecKernel.TeamWarps(w.Cols) : teamWarps);
        w.Accept(ref launch);
    }

    private static NotSupportedException NoInt8Kernel(TensorType type) =>
        new($"no int8-activation GPU kernel for {type} weights");

    /// <summary>An int8 product's arguments (<see cref="MatMulInt8"/>, <see cref="MatMulInt8RopeAndCache"/>,
    /// <see cref="MatMulInt8ThenRmsNorm"/>), carried through <see cref="GpuMatrix.Accept{TVisitor}"/> to the launch for
    /// the matrix's format; only formats with an int8 kernel arrive at <see cref="VisitInt8"/>.</summary>
    private readonly struct Int8MatVecLaunch<TOutput, TTail>(GpuKernels kernels, GpuMatrix w, Int8Blocks x, int tokens, TOutput output, TTail tail,
        int teamWarps)
        : IRowFormatVisitor where TOutput : struct, IRowPairOutput where TTail : struct, IMatVecTail
    {
        // Unreached while HasInt8Kernel agrees with GpuMatrix.Accept; kept as the same refusal should they drift apart.
        public void Visit<TFormat>(TFormat format) where TFormat : struct, IRowFormat => throw NoInt8Kernel(w.Type);

        public void VisitInt8<TFormat, TWords>(TFormat format) where TFormat : struct, IRowFormat, IInt8RowFormat<TWords> where TWords : struct =>
            kernels.Int8MatVec<TFormat, TWords, TOutput, TTail>(format, w, x, tokens, output, tail, teamWarps);
    }

    private void Int8MatVec<TFormat, TWords, TOutput, TTail>(TFormat format, GpuMatrix w, Int8Blocks x, int tokens, TOutput output, TTail tail,
        int teamWarps)
        where TFormat : struct, IInt8RowFormat<TWords> where TWords : struct where TOutput : struct, IRowPairOutput where TTail : struct, IMatVecTail
    {
        bool plain = typeof(TTail) == typeof(NoTail);
        var key = (typeof(TFormat), typeof(TOutput), typeof(TTail));
        if (!_int8MatVecs.TryGetValue(key, out var kernel))
            _int8MatVecs[key] = kernel = plain
                ? _loader.LoadKernel<Int8MatVecArgs<TFormat, TWords, TOutput>>(Int8MatVecKernel.Kernel)
                : _loader.LoadKernel<Int8MatVecArgs<TFormat, TWords, TOutput>, TTail>(Int8MatVecKernel.KernelThenTail);
        var args = new Int8MatVecArgs<TFormat, TWords, TOutput>
        {
            Weights = format, X = x, Rows = w.Rows, Blocks = w.Cols / 32, TeamWarps = teamWarps, Tokens = tokens, Output = output,
        };
        var config = new KernelConfig(new Index2D(Int8MatVecKernel.Groups(w.Rows, teamWarps) * tokens, 1), new Index2D(MatMulKernel.GroupSize, 1));
        Launches++;
        if (plain) ((Action<AcceleratorStream, KernelConfig, Int8MatVecArgs<TFormat, TWords, TOutput>>)kernel)(Stream, config, args);
        else ((Action<AcceleratorStream, KernelConfig, Int8MatVecArgs<TFormat, TWords, TOutput>, TTail>)kernel)(Stream, config, args, tail);
    }

    /// <summary>Output[i] = Table[ids[i]] as floats, for <paramref name="count"/> ids.</summary>
    public void Gather(GpuMatrix table, ArrayView<int> ids, int count, ArrayView<float> output)
    {
        if (count <= 0) return;
        var launch = new GatherLaunch(this, table, ids, count, output);
        table.Accept(ref launch);
    }

    /// <summary><see cref="Gather"/>'s arguments, carried through <see cref="GpuMatrix.Accept{TVisitor}"/> to the
    /// launch for the table's format.</summary>
    private readonly struct GatherLaunch(GpuKernels kernels, GpuMatrix table, ArrayView<int> ids, int count,
        ArrayView<float> output) : IRowFormatVisitor
    {
        public void Visit<TFormat>(TFormat format) where TFormat : struct, IRowFormat =>
            kernels.Gather(format, table, ids, count, output);

        public void VisitInt8<TFormat, TWords>(TFormat format) where TFormat : struct, IRowFormat, IInt8RowFormat<TWords> where TWords : struct =>
            Visit(format);
    }

    private void Gather<TFormat>(TFormat format, GpuMatrix table, ArrayView<int> ids, int count, ArrayView<float> output)
        where TFormat : struct, IRowFormat
    {
        if (!_gathers.TryGetValue(typeof(TFormat), out var kernel))
            _gathers[typeof(TFormat)] = kernel =
                _loader.LoadAutoGroupedKernel<Index1D, EmbeddingArgs<TFormat>>(EmbeddingKernel.Kernel);
        var args = new EmbeddingArgs<TFormat> { Table = format, Ids = ids, Output = output, Cols = table.Cols };
        Launches++;
        ((Action<AcceleratorStream, Index1D, EmbeddingArgs<TFormat>>)kernel)(Stream, count * (table.Cols / 32), args);
    }

    /// <summary>RMSNorm of <paramref name="rows"/> rows of weight.Length values.</summary>
    public void RmsNorm(ArrayView<float> x, int rows, ArrayView<float> weight, float eps, ArrayView<float> y)
    {
        _rmsNorm ??= _loader.LoadKernel<NormArgs>(NormKernels.RmsNorm);
        Launches++;
        _rmsNorm(Stream, new KernelConfig(rows, NormKernels.GroupSize),
            new NormArgs { X = x, Y = y, Weight = weight, Bias = weight, Cols = (int)weight.Length, Eps = eps });
    }

    /// <summary>LayerNorm of <paramref name="rows"/> rows of weight.Length values.</summary>
    public void LayerNorm(ArrayView<float> x, int rows, ArrayView<float> weight, ArrayView<float> bias, float eps, ArrayView<float> y)
    {
        _layerNorm ??= _loader.LoadKernel<NormArgs>(NormKernels.LayerNorm);
        Launches++;
        _layerNorm(Stream, new KernelConfig(rows, NormKernels.GroupSize),
            new NormArgs { X = x, Y = y, Weight = weight, Bias = bias, Cols = (int)weight.Length, Eps = eps });
    }

    /// <summary>Softmax in place over each of <paramref name="rows"/> rows of <paramref name="cols"/> values.</summary>
    public void Softmax(ArrayView<float> values, int rows, int cols)
    {
        _softmax ??= _loader.LoadKernel<ArrayView<float>, int>(SoftmaxKernel.Kernel);
        Launches++;
        _softmax(Stream, new KernelConfig(rows, NormKernels.GroupSize), values, cols);
    }

    public void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int count)
    {
        _add ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add);
        Launches++;
        _add(Stream, count, a, b, y);
    }

    public void SiluMul(ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y, int count)
    {
        _siluMul ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.SiluMul);
        Launches++;
        _siluMul(Stream, count, gate, up, y);
    }

    /// <summary>y[t, i] = silu(gateUp[t, i]) · gateUp[t, width + i]: the fused gate/up projection's output.</summary>
    public void SiluMulFused(ArrayView<float> gateUp, ArrayView<float> y, int tokens, int width)
    {
        _siluMulFused ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.SiluMulFused);
        Launches++;
        _siluMulFused(Stream, tokens * width, gateUp, y, width);
    }

    public void GeluTanh(ArrayView<float> x, ArrayView<float> y, int count)
    {
        _geluTanh ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.GeluTanh);
        Launches++;
        _geluTanh(Stream, count, x, y);
    }

    /// <summary>RoPE of q and k for <paramref name="rows"/> rows, and the KV-cache write of k and v.</summary>
    public void RopeAndCache(RopeArgs args, int rows)
    {
        _rope ??= _loader.LoadAutoGroupedKernel<Index1D, RopeArgs>(RopeKernel.Kernel);
        Launches++;
        _rope(Stream, rows * (args.Heads + 2 * args.KvHeads) * (args.HeadDim / 2), args);
    }

    /// <summary>Paged causal attention for <paramref name="rows"/> rows (all heads).</summary>
    public void Attention(AttentionArgs args, int rows)
    {
        if (args.HeadDim > PagedAttentionKernel.MaxHeadDim)
            throw new NotSupportedException($"head dimension {args.HeadDim} exceeds the attention kernel's {PagedAttentionKernel.MaxHeadDim}");
        _attention ??= _loader.LoadKernel<AttentionArgs>(PagedAttentionKernel.Kernel);
        Launches++;
        _attention(Stream, new KernelConfig(rows * args.Heads, PagedAttentionKernel.GroupSize), args);
    }

    /// <summary>
    /// Paged causal attention for prefill rows through <see cref="PrefillAttentionKernel"/>: one group per (query tile,
    /// head), the tiles' rows sharing each key and value read. <paramref name="tiles"/> holds <paramref name="tileCount"/>
    /// (first row, row count) pairs covering the <paramref name="rows"/> rows (<see cref="PrefillAttentionKernel.AddTiles"/>).
    /// </summary>
    public void PrefillAttention(AttentionArgs args, int rows, ArrayView<int> tiles, int tileCount)
    {
        if (rows <= 0 || tileCount <= 0) return;
        if (args.HeadDim > PrefillAttentionKernel.MaxHeadDim || args.HeadDim % 4 != 0)
            throw new NotSupportedException($"head dimension {args.HeadDim} is not a multiple of 4 up to {PrefillAttentionKernel.MaxHeadDim}");
        if (tiles.Length < 2L * tileCount)
            throw new ArgumentException($"{tileCount} tiles need {2 * tileCount} ints; the list holds {tiles.Length}", nameof(tiles));
        _prefillAttention ??= _loader.LoadKernel<PrefillAttentionArgs>(PrefillAttentionKernel.Kernel);
        Launches++;
        var grid = new Index2D(tileCount, args.Heads);
        _prefillAttention(Stream, new KernelConfig(grid, new Index2D(PrefillAttentionKernel.GroupSize, 1)),
            new PrefillAttentionArgs { Attention = args, Tiles = tiles });
    }

    /// <summary>Whether <see cref="Attention(AttentionArgs, int, SplitAttentionScratch, int, int, Int8Blocks?, PrefillTiles?, bool)"/> takes the split-K
    /// path for this batch: at most the scratch's rows, its head shape, and a KV head's query heads in one group.</summary>
    public static bool CanSplit(AttentionArgs args, int rows, SplitAttentionScratch split) =>
        rows <= split.Rows && args.Heads == split.Heads && args.HeadDim == split.HeadDim
        && args.GroupSize <= SplitAttentionKernel.MaxQueryHeadsPerKv && args.HeadDim % 4 == 0;

    /// <summary>
    /// Paged causal attention for a decode-sized batch through the split-K kernels (one group per row, KV head and
    /// chunk of positions, then a merge); when <see cref="CanSplit"/> says no (prefill batches: enough rows fill the
    /// GPU already), through <see cref="PrefillAttention"/> given the batch's query tiles, else through
    /// <see cref="Attention(AttentionArgs, int)"/>.
    /// </summary>
    /// <param name="longestContext">The batch's largest position + 1 (host-side; sizes the grid).</param>
    /// <param name="chunkSize">Positions per chunk; 0 picks <see cref="SplitAttentionScratch.ChunkSizeFor"/>.</param>
    /// <param name="quantizeOutput">When given and the split path runs with whole 32-value blocks per head, the merge
    /// also writes the output's int8 blocks here (the output projection then needs no quantize launch).</param>
    /// <param name="prefillTiles">The batch's query tiles for <see cref="PrefillAttention"/>.</param>
    /// <param name="mergeInTail">The split path merges in its own launch's tail (<see cref="AttentionMergeTail"/>:
    /// one launch instead of two, the same bits).</param>
    /// <returns>Whether <paramref name="quantizeOutput"/> was written.</returns>
    public bool Attention(AttentionArgs args, int rows, SplitAttentionScratch split, int longestContext, int chunkSize = 0,
        Int8Blocks? quantizeOutput = null, PrefillTiles? prefillTiles = null, bool mergeInTail = false)
    {
        if (rows <= 0) return false;
        if (!CanSplit(args, rows, split))
        {
            if (prefillTiles is { } tiles && args.HeadDim % 4 == 0) PrefillAttention(args, rows, tiles.List, tiles.Count);
            else Attention(args, rows);
            return false;
        }
        if (args.HeadDim > PagedAttentionKernel.MaxHeadDim)
            throw new NotSupportedException($"head dimension {args.HeadDim} exceeds the attention kernel's {PagedAttentionKernel.MaxHeadDim}");
        int kvHeads = args.Heads / args.GroupSize;
        if (chunkSize == 0) chunkSize = split.ChunkSizeFor(rows, kvHeads, longestContext);
        if (chunkSize < 1 || chunkSize > SplitAttentionKernel.MaxChunkSize)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, $"1..{SplitAttentionKernel.MaxChunkSize} positions per chunk");
        int gridChunks = (longestContext + chunkSize - 1) / chunkSize;
        if (gridChunks > split.Chunks)
            throw new ArgumentException($"{longestContext} positions in chunks of {chunkSize} need {gridChunks} chunks; the scratch holds {split.Chunks}");
        var splitArgs = split.Arguments(args, chunkSize, gridChunks);
        var splitConfig = new KernelConfig(rows * kvHeads * gridChunks, SplitAttentionKernel.GroupSize);
        Int8Blocks? blocks = quantizeOutput is { } q && args.HeadDim % 32 == 0 ? q : null;
        if (mergeInTail)
        {
            _splitThenMerge ??= _loader.LoadKernel<SplitAttentionArgs, AttentionMergeTail>(SplitAttentionKernel.KernelThenMerge);
            Launches++;
            _splitThenMerge(Stream, splitConfig, splitArgs, split.MergeTail(blocks));
            return blocks.HasValue;
        }
        _splitAttention ??= _loader.LoadKernel<SplitAttentionArgs>(SplitAttentionKernel.Kernel);
        Launches += 2;
        _splitAttention(Stream, splitConfig, splitArgs);
        int warps = SplitAttentionKernel.MergeWarps(rows, args.Heads);
        const int mergeGroup = 128;
        var mergeConfig = new KernelConfig((warps * 32 + mergeGroup - 1) / mergeGroup, mergeGroup);
        if (blocks is { } b)
        {
            _splitMergeInt8 ??= _loader.LoadKernel<SplitAttentionArgs, Int8Blocks, int>(SplitAttentionKernel.MergeInt8);
            _splitMergeInt8(Stream, mergeConfig, splitArgs, b, warps);
            return true;
        }
        _splitMerge ??= _loader.LoadKernel<SplitAttentionArgs, int>(SplitAttentionKernel.Merge);
        _splitMerge(Stream, mergeConfig, splitArgs, warps);
        return false;
    }

    internal void RandomWords(int count, ArrayView<uint> words, uint seed, int halfEvery)
    {
        _randomWords ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<uint>, uint, int>(RandomFillKernel.Words);
        Launches++;
        _randomWords(Stream, count, words, seed, halfEvery);
    }

    internal void RandomHalves(int count, ArrayView<ushort> halves, uint seed)
    {
        _randomHalves ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<ushort>, uint>(RandomFillKernel.Halves);
        Launches++;
        _randomHalves(Stream, count, halves, seed);
    }

    // ---- Vision tower: patch unfold, grid position add, dense (non-causal) attention ----
    private Action<AcceleratorStream, Index1D, PatchUnfoldArgs>? _patchUnfold;
    private Action<AcceleratorStream, Index1D, GridPositionArgs>? _gridPositions;
    private Action<AcceleratorStream, KernelConfig, DenseAttentionArgs>? _denseAttention;

    /// <summary>im2col of a [3, height, width] slice into [patches, rowStride] rows (see <see cref="PatchUnfoldKernel"/>).</summary>
    public void PatchUnfold(ArrayView<float> pixels, int height, int width, int patchSize, ArrayView<float> unfolded, int rowStride)
    {
        if (height % patchSize != 0 || width % patchSize != 0)
            throw new ArgumentException($"slice {width}×{height} is not whole {patchSize}-pixel patches");
        if (rowStride < 3 * patchSize * patchSize) throw new ArgumentOutOfRangeException(nameof(rowStride), rowStride, "shorter than a patch");
        int patches = height / patchSize * (width / patchSize);
        if (patches == 0) return;
        _patchUnfold ??= _loader.LoadAutoGroupedKernel<Index1D, PatchUnfoldArgs>(PatchUnfoldKernel.Kernel);
        Launches++;
        _patchUnfold(Stream, patches * rowStride, new PatchUnfoldArgs
        {
            Pixels = pixels, Unfolded = unfolded, Height = height, Width = width, PatchSize = patchSize, RowStride = rowStride,
        });
    }

    /// <summary>y = x + the 2-D sin-cos embedding of a rows × columns grid (see <see cref="GridPositionKernel"/>).</summary>
    public void AddGridPositions(ArrayView<float> x, int rows, int columns, ArrayView<float> axis, int width, ArrayView<float> y)
    {
        if (width % 2 != 0) throw new ArgumentException($"width {width} must be even", nameof(width));
        if (axis.Length < (long)Math.Max(rows, columns) * (width / 2))
            throw new ArgumentException($"the axis table has {axis.Length} values; a {rows}×{columns} grid needs {Math.Max(rows, columns)} rows of {width / 2}", nameof(axis));
        if (rows <= 0 || columns <= 0) return;
        _gridPositions ??= _loader.LoadAutoGroupedKernel<Index1D, GridPositionArgs>(GridPositionKernel.Kernel);
        Launches++;
        _gridPositions(Stream, rows * columns * width, new GridPositionArgs { X = x, Y = y, Axis = axis, Columns = columns, Width = width });
    }

    /// <summary>Non-causal multi-head attention of every query over every key (see <see cref="DenseAttentionKernel"/>).</summary>
    public void DenseAttention(DenseAttentionArgs args)
    {
        if (args.HeadDim < 1 || args.HeadDim > DenseAttentionKernel.MaxHeadDim)
            throw new NotSupportedException($"head dimension {args.HeadDim} is outside the dense attention kernel's 1..{DenseAttentionKernel.MaxHeadDim}");
        if (args.Queries <= 0 || args.Heads <= 0) return;
        if (args.Keys <= 0) throw new ArgumentException("attention needs at least one key", nameof(args));
        if (args.KeyChunk < 0) throw new ArgumentOutOfRangeException(nameof(args), args.KeyChunk, "the key chunk is 0 (no mask) or positive");
        if (DenseAttentionAsProducts)
        {
            AttentionAsProducts(args);
            return;
        }
        _denseAttention ??= _loader.LoadKernel<DenseAttentionArgs>(DenseAttentionKernel.Kernel);
        var grid = new Index2D(DenseAttentionKernel.QueryTiles(args.Queries), args.Heads);
        Launches++;
        _denseAttention(Stream, new KernelConfig(grid, new Index2D(DenseAttentionKernel.GroupSize, 1)), args);
    }

    /// <summary>
    /// Whether <see cref="DenseAttention"/> runs as <see cref="AttentionProducts"/> (pack, Q·Kᵀ for every head in one
    /// tiled product, masked row softmax, P·V in another: four launches, the products on the tensor cores where
    /// <see cref="TensorCores"/> is on) instead of the fused <see cref="DenseAttentionKernel"/> (one launch, CUDA
    /// cores; 5.9 TFLOP/s at SigLIP's shape on an H200). Same results up to float32 rounding. Off until a GPU has
    /// timed both (GpuBench's dense attention lines); the products need scratch of
    /// <see cref="AttentionProducts.ScratchFloats"/> floats (84 MB for a SigLIP layer, 163 MB for 30 s of Whisper),
    /// kept for the next call until the device is disposed.
    /// </summary>
    public bool DenseAttentionAsProducts { get; set; }

    private MemoryBuffer1D<float, Stride1D.Dense>? _attentionScratch;
    private Action<AcceleratorStream, Index1D, DenseAttentionArgs, AttentionProductLayout>? _attentionPack;
    private Action<AcceleratorStream, KernelConfig, DenseAttentionArgs, AttentionProductLayout>? _attentionSoftmax;

    private void AttentionAsProducts(DenseAttentionArgs a)
    {
        long need = AttentionProducts.ScratchFloats(a);
        if (_attentionScratch is null || _attentionScratch.Length < need)
        {
            // Growing allocates and frees: not inside a graph capture, and not under kernels still queued on it.
            if (Stream != _accelerator.DefaultStream)
                throw new InvalidOperationException("dense attention as products cannot grow its scratch inside a CUDA graph capture; run it once outside first");
            Stream.Synchronize();
            _attentionScratch?.Dispose();
            _attentionScratch = null;
            _attentionScratch = _accelerator.Allocate1D<float>(need);
        }
        var p = AttentionProducts.Layout(a, _attentionScratch.View);
        long packed = AttentionProducts.PackCount(p);
        if (packed > int.MaxValue) throw new ArgumentException($"attention of {a.Heads} heads × {a.Queries} queries × {a.Keys} keys is too large for one call", nameof(a));
        _attentionPack ??= _loader.LoadAutoGroupedKernel<Index1D, DenseAttentionArgs, AttentionProductLayout>(AttentionProducts.Pack);
        _attentionSoftmax ??= _loader.LoadKernel<DenseAttentionArgs, AttentionProductLayout>(AttentionProducts.Softmax);
        int d = a.HeadDim, dp = p.HeadDimPadded, kp = p.KeysPadded;

        Launches++;
        _attentionPack(Stream, (int)packed, a, p);
        // S_h = Qh·Khᵀ: the keys are the "weight rows", the queries the tokens.
        TiledMatMul(new MatMulArgs<F32Rows, RowPairStore>
        {
            Weights = new F32Rows { Words = p.Keys.Cast<UInt4>(), WordsPerRow = dp / 4 }, X = p.Queries,
            Rows = kp, Cols = dp, Tokens = a.Queries,
            Output = new RowPairStore { Y = p.Scores, Bias = p.Scores, YStride = kp, Rows = kp },
        }, new MatMulBatch { WeightRows = kp, Tokens = a.Queries, Y = (long)a.Queries * kp }, a.Heads);
        Launches++;
        _attentionSoftmax(Stream, new KernelConfig(a.Heads * a.Queries, NormKernels.GroupSize), a, p);
        // O[:, h] = P_h·Vh: Vhᵀ's rows are the "weight rows", each head's outputs start at its d columns.
        TiledMatMul(new MatMulArgs<F32Rows, RowPairStore>
        {
            Weights = new F32Rows { Words = p.ValuesT.Cast<UInt4>(), WordsPerRow = kp / 4 }, X = p.Scores,
            Rows = d, Cols = kp, Tokens = a.Queries,
            Output = new RowPairStore { Y = a.Output, Bias = a.Output, YStride = a.OutputStride, Rows = d },
        }, new MatMulBatch { WeightRows = d, Tokens = a.Queries, Y = d }, a.Heads);
    }

    // ---- Sampling: the candidates of a top-k step ----
    private Action<AcceleratorStream, KernelConfig, LogitCandidatesArgs>? _logitCandidates;

    /// <summary>The top-k candidates of one logits row and the penalized ids' logits (see <see cref="LogitCandidatesKernel"/>).</summary>
    public void LogitCandidates(LogitCandidatesArgs args)
    {
        if (args.K < 1) throw new ArgumentOutOfRangeException(nameof(args), args.K, "K must be at least 1");
        if (args.Capacity < 1 || args.PenalizedCapacity < 0 || args.MarginKeys < 0)
            throw new ArgumentException($"capacities {args.Capacity}/{args.PenalizedCapacity} and margin {args.MarginKeys}", nameof(args));
        int words = (args.Vocabulary + 31) / 32;
        if (args.Logits.Length < args.Vocabulary || args.Allowed.Length < words || args.Eligible.Length < words
            || args.Output.Length < LogitCandidatesKernel.OutputLength(args.Capacity, args.PenalizedCapacity))
            throw new ArgumentException("a buffer is shorter than the vocabulary or the output layout needs", nameof(args));
        _logitCandidates ??= _loader.LoadKernel<LogitCandidatesArgs>(LogitCandidatesKernel.Kernel);
        Launches++;
        _logitCandidates(Stream, new KernelConfig(1, LogitCandidatesKernel.GroupSize), args);
    }

    // ---- Audio encoder: 1-D convolution unfold, exact GELU, ReLU, average pooling ----
    private Action<AcceleratorStream, Index1D, Conv1dUnfoldArgs>? _conv1dUnfold;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>>? _geluErf, _relu;
    private Action<AcceleratorStream, Index1D, AveragePoolArgs>? _averagePool;

    /// <summary>im2col of a 1-D signal into [steps, rowStride] rows (see <see cref="Conv1dUnfoldKernel"/>); returns the steps.</summary>
    public int Conv1dUnfold(Conv1dUnfoldArgs args)
    {
        if (args.Channels < 1 || args.Taps < 1 || args.Stride < 1 || args.Padding < 0 || args.Length < 0)
            throw new ArgumentException($"a convolution of {args.Channels} channels, {args.Taps} taps, stride {args.Stride}, padding {args.Padding} over {args.Length} steps", nameof(args));
        if (args.RowStride < args.Channels * args.Taps)
            throw new ArgumentOutOfRangeException(nameof(args), args.RowStride, $"rows shorter than {args.Channels}·{args.Taps}");
        int steps = Cpu.Conv1d.OutputLength(args.Length, args.Taps, args.Stride, args.Padding);
        if (args.Columns.Length < (long)steps * args.RowStride)
            throw new ArgumentException($"the columns hold {args.Columns.Length} values; {steps}×{args.RowStride} needed", nameof(args));
        if (steps == 0) return 0;
        _conv1dUnfold ??= _loader.LoadAutoGroupedKernel<Index1D, Conv1dUnfoldArgs>(Conv1dUnfoldKernel.Kernel);
        Launches++;
        _conv1dUnfold(Stream, steps * args.RowStride, args);
        return steps;
    }

    /// <summary>y = gelu(x), the exact (erf) form (see <see cref="ElementwiseKernels.GeluErf"/>).</summary>
    public void GeluErf(ArrayView<float> x, ArrayView<float> y, int count)
    {
        if (count <= 0) return;
        _geluErf ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.GeluErf);
        Launches++;
        _geluErf(Stream, count, x, y);
    }

    /// <summary>y = max(x, 0).</summary>
    public void Relu(ArrayView<float> x, ArrayView<float> y, int count)
    {
        if (count <= 0) return;
        _relu ??= _loader.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Relu);
        Launches++;
        _relu(Stream, count, x, y);
    }

    /// <summary>AvgPool1d(step, stride step) of [frames, width] rows into <paramref name="pooled"/>; returns the pooled rows
    /// (⌊(frames − step) / step⌋ + 1, a trailing partial window dropped; see <see cref="AveragePoolKernel"/>).</summary>
    public int AveragePool(ArrayView<float> rows, int frames, int width, int step, ArrayView<float> pooled)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int outputs = frames < step ? 0 : (frames - step) / step + 1;
        if (pooled.Length < (long)outputs * width)
            throw new ArgumentException($"the output holds {pooled.Length} values; {outputs}×{width} needed", nameof(pooled));
        if (outputs == 0) return 0;
        _averagePool ??= _loader.LoadAutoGroupedKernel<Index1D, AveragePoolArgs>(AveragePoolKernel.Kernel);
        Launches++;
        _averagePool(Stream, outputs * width, new AveragePoolArgs { Rows = rows, Pooled = pooled, Width = width, Step = step });
        return outputs;
    }

    // ---- Greedy decoding on the device: argmax over logits rows, and the one-row decode step's advance ----
    private Action<AcceleratorStream, KernelConfig, ArgMaxArgs>? _argMaxPartial, _argMaxFinal;
    private Action<AcceleratorStream, Index1D, DecodeAdvanceArgs>? _decodeAdvance;

    /// <summary>
    /// chosen[r] = the id of row r's highest score (ties to the lowest id; NaN never chosen), over the ids
    /// <paramref name="allowed"/> marks when it is given, or −1 where the row has nothing to choose (see
    /// <see cref="ArgMaxKernel"/>). Two launches.
    /// </summary>
    /// <param name="allowed">Bit i % 32 of word i / 32 set where id i may be chosen (at least ⌈cols / 32⌉ words), or
    /// an invalid view (default) for every id.</param>
    public void ArgMax(ArrayView<float> scores, int rows, int cols, ArrayView<uint> allowed, ArgMaxScratch scratch, ArrayView<int> chosen)
    {
        if (rows <= 0) return;
        if (rows > scratch.Rows || cols != scratch.Cols)
            throw new ArgumentException($"the argmax scratch holds {scratch.Rows} rows of {scratch.Cols}; asked for {rows} rows of {cols}", nameof(scratch));
        if (scores.Length < (long)rows * cols) throw new ArgumentException($"{scores.Length} scores for {rows} rows of {cols}", nameof(scores));
        if (chosen.Length < rows) throw new ArgumentException($"{chosen.Length} outputs for {rows} rows", nameof(chosen));
        bool masked = allowed.IsValid;
        if (masked && allowed.Length < (cols + 31) / 32)
            throw new ArgumentException($"the mask has {allowed.Length} words; {cols} ids need {(cols + 31) / 32}", nameof(allowed));
        _argMaxPartial ??= _loader.LoadKernel<ArgMaxArgs>(ArgMaxKernel.Partial);
        _argMaxFinal ??= _loader.LoadKernel<ArgMaxArgs>(ArgMaxKernel.Final);
        int chunks = ArgMaxKernel.Chunks(cols);
        var args = new ArgMaxArgs
        {
            Scores = scores, Allowed = masked ? allowed : chosen.Cast<uint>(), PartialScores = scratch.Scores, PartialIds = scratch.Ids,
            Chosen = chosen, Cols = cols, Chunks = chunks, HasMask = masked ? 1 : 0,
        };
        Launches += 2;
        _argMaxPartial(Stream, new KernelConfig(new Index2D(chunks, rows), new Index2D(ArgMaxKernel.GroupSize, 1)), args);
        _argMaxFinal(Stream, new KernelConfig(rows, ArgMaxKernel.GroupSize), args);
    }

    /// <summary>Moves a one-row decode pass's layout to its next step (see <see cref="DecodeAdvanceKernel"/>).</summary>
    public void DecodeAdvance(DecodeAdvanceArgs args)
    {
        if (args.BlockSize < 1) throw new ArgumentOutOfRangeException(nameof(args), args.BlockSize, "block size must be positive");
        if (args.Record.Length < 2) throw new ArgumentException("the record needs its two header ints", nameof(args));
        _decodeAdvance ??= _loader.LoadAutoGroupedKernel<Index1D, DecodeAdvanceArgs>(DecodeAdvanceKernel.Kernel);
        Launches++;
        _decodeAdvance(Stream, 1, args);
    }

    // ---- Fused int8 producers (decode: the op that makes a projection's input also quantizes it) and the launch counter ----
    private Action<AcceleratorStream, KernelConfig, RmsNormInt8Args>? _rmsNormInt8;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, Int8Blocks, int>? _siluMulFusedInt8;

    /// <summary>Kernel launches queued on this accelerator so far (a decode step's count is the difference across it).</summary>
    public long Launches { get; private set; }

    /// <summary>CUDA graph replays queued so far (each also adds its kernels to <see cref="Launches"/>).</summary>
    public long GraphLaunches { get; private set; }

    internal void CountGraphLaunch(int kernels)
    {
        GraphLaunches++;
        Launches += kernels;
    }

    internal void UncountCapture(int kernels) => Launches -= kernels;

    /// <summary>Registers, spills and shared memory of each CUDA kernel compiled so far (empty on other accelerators).</summary>
    public IReadOnlyList<KernelResources> Resources => _loader.Resources;

    /// <summary><see cref="RmsNorm"/> that also writes y's int8 blocks into <paramref name="q"/> (one launch).</summary>
    public void RmsNormInt8(ArrayView<float> x, int rows, ArrayView<float> weight, float eps, ArrayView<float> y, Int8Blocks q)
    {
        if (weight.Length % 32 != 0) throw new ArgumentException($"{weight.Length} columns are not whole int8 blocks of 32", nameof(weight));
        if (rows <= 0) return;
        _rmsNormInt8 ??= _loader.LoadKernel<RmsNormInt8Args>(NormKernels.RmsNormInt8);
        Launches++;
        _rmsNormInt8(Stream, new KernelConfig(rows, NormKernels.GroupSize),
            new RmsNormInt8Args { X = x, Y = y, Weight = weight, Q = q, Cols = (int)weight.Length, Eps = eps });
    }

    /// <summary><see cref="SiluMulFused"/> that also writes y's int8 blocks into <paramref name="q"/> (one launch).</summary>
    public void SiluMulFusedInt8(ArrayView<float> gateUp, ArrayView<float> y, int tokens, int width, Int8Blocks q)
    {
        if (width % 32 != 0) throw new ArgumentException($"{width} columns are not whole int8 blocks of 32", nameof(width));
        if (tokens <= 0) return;
        _siluMulFusedInt8 ??= _loader.LoadKernel<ArrayView<float>, ArrayView<float>, int, Int8Blocks, int>(
            ElementwiseKernels.SiluMulFusedInt8);
        Launches++;
        int quads = tokens * (width / 4);
        _siluMulFusedInt8(Stream, QuadConfig(quads), gateUp, y, width, q, quads);
    }

    /// <summary>Thread-per-4-values launches of the int8 producers: whole warps, so 8-lane blocks never straddle a group edge.</summary>
    private static KernelConfig QuadConfig(int quads) => new((quads + 255) / 256, 256);
}
