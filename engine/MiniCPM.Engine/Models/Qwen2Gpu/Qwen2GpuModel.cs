using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// The Qwen2 decoder on a GPU through ILGPU — the math of <see cref="Qwen2Model"/>, with weights, activations and the
/// paged KV cache in device memory:
/// <code>
/// h = E[ids]                                  (gather kernel; or caller-supplied embedding rows, uploaded)
/// per layer:  x = RMSNorm(h)
///             [q|k|v] = x·Wqkvᵀ + b           one launch for the fused projection
///             RoPE(q, k); K/V cache ← k, v    in the projection's epilogue (prefill past TiledMinTokens: one launch)
///             a = paged causal attention      one launch; decode batches (≤ 8 rows): split-K over chunks + merge
///             h += a·Woᵀ                       residual add fused into the projection
///             x = RMSNorm(h); [g|u] = x·Wguᵀ;  t = silu(g)⊙u;  h += t·Wdownᵀ
/// logits = RMSNorm(h)·Wlmᵀ
/// </code>
/// Eight launches per layer (nine with the split-K attention; one more for the RoPE of prefill batches large enough
/// for the tiled matmul, which has no RoPE epilogue), queued without host synchronization; per pass the host uploads
/// the token ids and the batch layout (positions, cache slots, block tables: a few ints per row) and reads back only
/// the logits. With int8 activations (≤ <see cref="FusedLinear.MaxInt8Tokens"/> rows, block-quantized weights: Q4_0…Q8_0 and Q2_K…Q6_K)
/// each projection reads its input as int8 blocks, made by the kernel that makes the input: both norms and SiLU·mul
/// quantize what they write, and so does the split-K attention's merge (a head's d values are whole blocks of 32).
/// There the norms after the o and down projections ride in those projections' tails (<see cref="FusedNorms"/>: the
/// last group to finish a row normalizes it — the down projection's makes the next layer's attention norm, or after
/// the last layer the final norm when every row wants logits), so a decode layer is seven launches and a decode token
/// 7·layers + 3 (embedding, the first attention norm, the lm_head); without the tails nine and 9·layers + 3.
/// Two more tails, each one launch fewer per layer and off until timed on a GPU: the split-K merge in the attention
/// kernel (<see cref="MergedAttention"/>) and SiLU·mul with its int8 blocks in the gate|up projection
/// (<see cref="FusedSwiGlu"/>); with all three, five launches per decode layer.
/// </summary>
public sealed partial class Qwen2GpuModel : ILanguageModel
{
    private readonly GpuDevice _device;
    private readonly bool _ownsDevice;
    private readonly Checkpoint? _ownedCheckpoint;
    private readonly Qwen2GpuWeights _weights;
    private readonly DeviceKvCache _cache;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _cos, _sin;
    private readonly float _eps, _attentionScale;
    private readonly int _qkvWidth;
    private readonly Int8Buffer? _int8;
    /// <summary>Where the norms in the projections' tails write their int8 blocks: never the blocks the projection
    /// reads (a token's norm may run while another token's groups still read theirs), and their per-token counters.</summary>
    private readonly Int8Buffer? _normBlocks;
    private readonly TokenCounters? _tailCounters;
    /// <summary>Per (token, block of the MLP's intermediate row) for <see cref="FusedSwiGlu"/>, and where that tail
    /// writes the down projection's blocks: not <see cref="_int8"/>, which the gate|up groups still read while the
    /// first blocks are made.</summary>
    private readonly TokenCounters? _swiGluCounters;
    private readonly Int8Buffer? _swiGluBlocks;
    /// <summary>Batches of up to this many rows (decode) take the split-K attention; larger ones have rows × heads
    /// groups enough for the per-head kernel, and the partial-state scratch grows with rows.</summary>
    private const int SplitAttentionRows = 8;
    private readonly SplitAttentionScratch _splitAttention;
    private Scratch? _scratch;
    /// <summary>Captured decode passes by context bucket; Greedy: with the device argmax and advance (DecodeGreedy).</summary>
    private Dictionary<(int Bucket, bool Greedy), CudaGraph>? _graphs;
    private Scratch? _graphScratch;
    private int _graphGeneration;
    private long _eagerDecodeSteps;
    private bool _disposed;

    private Qwen2GpuModel(GpuDevice device, bool ownsDevice, LlmConfig config, Qwen2GpuWeights weights, Qwen2GpuOptions options,
        Checkpoint? ownedCheckpoint)
    {
        _device = device;
        _ownsDevice = ownsDevice;
        Config = config;
        _weights = weights;
        _ownedCheckpoint = ownedCheckpoint;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.KvBlockSize, 1, nameof(options.KvBlockSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GreedyWindow, 1, nameof(options.GreedyWindow));
        if (config.HeadDim > PagedAttentionKernel.MaxHeadDim)
            throw new GpuUnavailableException(device.Name, $"head dimension {config.HeadDim} exceeds the GPU attention kernel's {PagedAttentionKernel.MaxHeadDim}; use --device cpu");
        int kvWidth = config.KvHeads * config.HeadDim;
        _cache = new DeviceKvCache(device, config.Layers, kvWidth, options.KvBlockSize, options.KvCacheTokens);
        MaxSequenceLength = Math.Min(config.MaxPositions, _cache.CapacityTokens);
        _qkvWidth = config.HiddenSize + 2 * kvWidth;
        _eps = (float)config.RmsNormEps;
        _attentionScale = 1f / MathF.Sqrt(config.HeadDim);
        _splitAttention = new SplitAttentionScratch(device, SplitAttentionRows, config.Heads, config.HeadDim, MaxSequenceLength);
        if (options.CudaGraphs && device.SupportsGraphs) _graphs = [];
        _greedyWindow = options.GreedyWindow;
        if (options.Activations == ActivationPrecision.Int8 && weights.AllMatrices.Any(m => GpuKernels.HasInt8Kernel(m.Type)))
        {
            _int8 = new Int8Buffer(device, FusedLinear.MaxInt8Tokens, Math.Max(config.HiddenSize, config.IntermediateSize));
            _normBlocks = new Int8Buffer(device, FusedLinear.MaxInt8Tokens, config.HiddenSize);
            _tailCounters = new TokenCounters(device, FusedLinear.MaxInt8Tokens);
            if (config.IntermediateSize % 32 == 0)
            {
                _swiGluCounters = new TokenCounters(device, FusedLinear.MaxInt8Tokens, perToken: config.IntermediateSize / 32);
                _swiGluBlocks = new Int8Buffer(device, FusedLinear.MaxInt8Tokens, config.IntermediateSize);
            }
        }

        // cos/sin of every position the cache can hold, from the CPU RoPE (identical rounding).
        var rope = new RotaryEmbedding(config.HeadDim, (float)config.RopeTheta);
        int half = config.HeadDim / 2;
        var cos = new float[(long)MaxSequenceLength * half];
        var sin = new float[cos.Length];
        for (int p = 0; p < MaxSequenceLength; p++) rope.CosSin(p, cos.AsSpan(p * half, half), sin.AsSpan(p * half, half));
        _cos = device.Upload<float>(cos);
        _sin = device.Upload<float>(sin);
    }

    /// <summary>Opens a GGUF file, safetensors file or HF folder and uploads the decoder to the device.</summary>
    /// <exception cref="GpuUnavailableException">No such device, no driver, or weights the GPU kernels cannot read.</exception>
    public static Qwen2GpuModel Load(string path, Qwen2GpuOptions? options = null)
    {
        options ??= new Qwen2GpuOptions();
        var device = OpenDevice(options.Device);
        try
        {
            return Load(path, device, ownsDevice: true, options);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// As <see cref="Load(string, Qwen2GpuOptions?)"/> on an already open device (which must outlive the model and
    /// keeps its compiled kernels: several models, or a model and a vision tower, compile each kernel once).
    /// <see cref="Qwen2GpuOptions.Device"/> is ignored.
    /// </summary>
    public static Qwen2GpuModel Load(string path, GpuDevice device, Qwen2GpuOptions? options = null) =>
        Load(path, device, ownsDevice: false, options ?? new Qwen2GpuOptions());

    private static Qwen2GpuModel Load(string path, GpuDevice device, bool ownsDevice, Qwen2GpuOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        Checkpoint? checkpoint = null;
        try
        {
            checkpoint = Checkpoint.Open(path);
            var config = checkpoint.Config.Llm ?? throw new ModelFormatException(checkpoint.SourcePath, "the checkpoint has no language model");
            var problems = checkpoint.Config.Problems();
            if (problems.Count > 0) throw new ModelFormatException(checkpoint.SourcePath, "unusable configuration: " + string.Join("; ", problems));
            var opened = checkpoint;
            return Build(device, Qwen2GpuMemoryPlan.For(checkpoint, config, options),
                () => new Qwen2GpuModel(device, ownsDevice, config, Qwen2GpuWeights.Upload(device, opened, config), options, opened));
        }
        catch
        {
            checkpoint?.Dispose();
            throw;
        }
    }

    /// <summary>A random-weight model of <paramref name="config"/>'s shape built on the device (benchmarks).</summary>
    public static Qwen2GpuModel Random(GpuDevice device, LlmConfig config, TensorType type, Qwen2GpuOptions? options = null, uint seed = 1)
    {
        options ??= new Qwen2GpuOptions();
        return Build(device, Qwen2GpuMemoryPlan.For(config, options, config.VocabSize, _ => type),
            () => new Qwen2GpuModel(device, ownsDevice: false, config, Qwen2GpuWeights.Random(device, config, type, seed), options, null));
    }

    /// <summary>
    /// Checks <paramref name="plan"/> against the device's free memory, then builds the model in an allocation scope:
    /// whatever fails (the device out of memory, a malformed tensor halfway through the file) frees what was uploaded
    /// before the error propagates, so a device shared with other models is left as it was.
    /// </summary>
    private static Qwen2GpuModel Build(GpuDevice device, Qwen2GpuMemoryPlan plan, Func<Qwen2GpuModel> build)
    {
        plan.Check(device);
        return DeviceAllocation.Run(device, $"this language model ({plan})", Qwen2GpuMemoryPlan.Advice, build);
    }

    /// <summary>Opens a device, turning every failure into a <see cref="GpuUnavailableException"/> that says to use the CPU.</summary>
    public static GpuDevice OpenDevice(string device)
    {
        try
        {
            return GpuDevice.Open(device);
        }
        catch (GpuDeviceUnavailableException e)
        {
            throw new GpuUnavailableException(device, e.Message, e);
        }
    }

    public LlmConfig Config { get; }
    public int VocabularySize => _weights.Output.Outputs;
    public int EmbeddingRows => _weights.TokenEmbedding.Rows;
    public int MaxSequenceLength { get; }
    public GpuDevice Device => _device;

    /// <summary>Bytes of weights one decode step streams (every layer's matrices and the lm_head).</summary>
    public long DecodeWeightBytes => _weights.DecodeWeightBytes;

    /// <summary>See <see cref="HiddenStateObserver"/>; null (the default) for normal running. Costs a device sync per stage.</summary>
    public HiddenStateObserver? HiddenStates { get; set; }

    public SequenceId CreateSequence() => new(_cache.Create());
    public SequenceId ForkSequence(SequenceId source) => new(_cache.Fork(source.Value));
    public void FreeSequence(SequenceId sequence) => _cache.Free(sequence.Value);
    public int SequenceLength(SequenceId sequence) => _cache.Length(sequence.Value);

    public void Forward(IReadOnlyList<ForwardRequest> requests)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0) return;
        var batch = new ForwardRequest[requests.Count];
        for (int i = 0; i < batch.Length; i++)
            batch[i] = requests[i] ?? throw new ArgumentNullException(nameof(requests), $"request {i} is null");
        try
        {
            CopyLogits(batch, Pass(batch));
        }
        catch (GpuAllocationException e)
        {
            throw PassOutOfMemory(e, batch.Sum(r => r.Tokens.Length));
        }
    }

    /// <summary>A buffer the device refused during a pass, as the engine's typed error. No sequence advanced; the
    /// model is usable for smaller passes.</summary>
    private static GpuOutOfMemoryException PassOutOfMemory(GpuAllocationException e, int rows) =>
        GpuOutOfMemoryException.From(e, $"the working buffers of a {rows}-token pass",
            "Feed a long prompt in shorter pieces (successive passes on the same sequence), free finished sequences, or use a smaller model file.");

    /// <summary>Logits rows the pass writes (<see cref="LogitKernels"/>): each request's last row or all its rows, or
    /// every row when the last down projection's tail makes the final norm.</summary>
    private int LogitRows(ForwardRequest[] batch, int rows)
    {
        int wanted = batch.Sum(r => r.AllLogits ? r.Tokens.Length : 1);
        return TailNorms(rows) ? Math.Max(rows, wanted) : wanted;
    }

    /// <summary>
    /// The working buffers for a pass of <paramref name="rows"/> rows. Growing doubles the rows (fewer regrowths while a
    /// batch builds up), falling back to exactly <paramref name="rows"/> when the device refuses the double; if that is
    /// refused too, the model keeps no scratch (the old one is freed first, to make room) and the next pass makes one.
    /// </summary>
    private Scratch EnsureScratch(int rows)
    {
        if (_scratch is { } current && current.Rows >= rows) return current;
        int grown = Math.Max(rows, _scratch is null ? 1 : _scratch.Rows * 2);
        _scratch?.Dispose();
        _scratch = null;
        return _scratch = GrowTo(_device, rows, grown, n => Scratch.Create(_device, Config, _qkvWidth, n));
    }

    /// <summary>
    /// What <paramref name="make"/> builds for <paramref name="grown"/> rows (a doubling, so a batch building up rarely
    /// regrows), or for exactly <paramref name="needed"/> when the device refuses the larger one. Detached from any
    /// enclosing allocation scope: it belongs to this model.
    /// </summary>
    private static T GrowTo<T>(GpuDevice device, int needed, int grown, Func<int, T> make)
    {
        try
        {
            return device.AllOrNothing(() => make(grown), outlivesOuterScopes: true);
        }
        catch (GpuAllocationException) when (grown > needed)
        {
            return device.AllOrNothing(() => make(needed), outlivesOuterScopes: true);
        }
    }

    /// <summary>Validates the batch, reserves its cache slots, queues the whole pass and advances the sequences; the
    /// logits rows are then on the device (<see cref="Scratch.Logits"/>).</summary>
    private Scratch Pass(ForwardRequest[] batch)
    {
        int rows = Validate(batch);
        var appends = batch.Select(r => (r.Sequence.Value, r.Tokens.Length)).ToArray();
        // What can be refused comes before the cache changes, so a refusal leaves every sequence as it was: the cache's
        // room first (a refused request grows no buffer), then every buffer the pass needs (none is made inside it,
        // nor inside a graph capture).
        _cache.RequireRoom(appends);
        var s = EnsureScratch(rows);
        s.EnsureLogits(_device, LogitRows(batch, rows), VocabularySize);
        s.EnsureTableCapacity(_cache.TableEntriesAfter(appends));
        _cache.Reserve(appends);

        // Batch layout: ids, positions, cache slots, where each row's block table starts, and the prefill attention's
        // query tiles (each request's rows are consecutive).
        var ids = new int[rows];
        var positions = new int[rows];
        var slots = new int[rows];
        var tableStarts = new int[rows];
        var tables = new List<int>();
        var tiles = new List<int>();
        int row = 0, tileCount = 0;
        foreach (var request in batch)
        {
            int sequence = request.Sequence.Value, start = _cache.Length(sequence);
            var table = _cache.BlockTable(sequence);
            int tableStart = tables.Count;
            tables.AddRange(table);
            var tokens = request.Tokens.Span;
            tileCount += PrefillAttentionKernel.AddTiles(tiles, row, tokens.Length);
            for (int t = 0; t < tokens.Length; t++, row++)
            {
                int position = start + t;
                ids[row] = tokens[t];
                positions[row] = position;
                slots[row] = table[position / _cache.BlockSize] * _cache.BlockSize + position % _cache.BlockSize;
                tableStarts[row] = tableStart;
            }
        }
        s.Upload(ids, positions, slots, tableStarts, tiles.ToArray(), tileCount, tables.ToArray());
        int longestContext = positions.Max() + 1;

        if (GraphEligible(batch, rows)) ReplayDecodeGraph(batch, s, longestContext);
        else
        {
            Launch(batch, rows, ids, s, longestContext);
            if (rows == 1) _eagerDecodeSteps++;
        }
        foreach (var request in batch) _cache.Advance(request.Sequence.Value, request.Tokens.Length);
        return s;
    }

    /// <summary>Every kernel of one forward pass, queued: embedding, the layers, the final norm and lm_head.</summary>
    /// <param name="attentionContext">What the split-K attention sizes its grid for: the batch's longest context, or
    /// a captured graph's context bucket (chunks past a row's context return at once).</param>
    private void Launch(ForwardRequest[] batch, int rows, int[] ids, Scratch s, int attentionContext)
    {
        Embed(batch, rows, ids, s);
        Observe(0, rows, s.Hidden.View);
        bool normed = false; // whether the last projection's tail already made the next norm
        for (int layer = 0; layer < _weights.Layers.Length; layer++)
        {
            normed = DecoderLayer(batch, layer, rows, s, attentionContext, normed);
            Observe(layer + 1, rows, s.Hidden.View);
        }
        LogitKernels(batch, rows, s, normed);
    }

    /// <summary>
    /// One-token steps of one sequence — plain decode — replay a CUDA graph of the whole pass (one driver call instead
    /// of ~10 launches per layer) once a step has run eagerly (every kernel compiled and loaded, the scratch sized).
    /// Host-supplied embeddings and hidden-state observers copy between launches, so they stay eager.
    /// </summary>
    private bool GraphEligible(ForwardRequest[] batch, int rows) =>
        _graphs is not null && CudaGraphs && rows == 1 && batch.Length == 1 && batch[0].Embeddings is null && HiddenStates is null
        && _eagerDecodeSteps > 0;

    /// <summary>
    /// The decode pass through the graph of its context bucket (the next power of two from 256, so a sequence
    /// captures about log2(context) graphs). Graphs bake device addresses in, so they are dropped whenever the scratch
    /// or one of its buffers is reallocated. A capture the driver refuses turns graphs off for this model (the pass
    /// then runs eagerly; nothing was queued by the failed capture).
    /// </summary>
    private void ReplayDecodeGraph(ForwardRequest[] batch, Scratch s, int longestContext) =>
        ReplayGraph(s, longestContext, greedy: false, context => Launch(batch, 1, [batch[0].Tokens.Span[0]], s, context));

    /// <summary>
    /// Replays the graph of <paramref name="pass"/> (the decode pass, with or without the greedy step's kernels) for
    /// the context bucket of <paramref name="longestContext"/>, capturing it on first use; <paramref name="pass"/>
    /// takes the attention context to size for. On a refused capture it runs the pass eagerly.
    /// </summary>
    private void ReplayGraph(Scratch s, int longestContext, bool greedy, Action<int> pass)
    {
        int bucket = Math.Min(MaxSequenceLength, Math.Max(256, (int)BitOperations.RoundUpToPowerOf2((uint)longestContext)));
        if (!ReferenceEquals(_graphScratch, s) || _graphGeneration != s.Generation)
        {
            DisposeGraphs();
            _graphScratch = s;
            _graphGeneration = s.Generation;
        }
        if (!_graphs!.TryGetValue((bucket, greedy), out var graph))
        {
            try
            {
                graph = _device.CaptureGraph(() => pass(bucket));
            }
            catch (Exception e) when (e is InvalidOperationException or TypeInitializationException or EntryPointNotFoundException)
            {
                GraphFallbackReason = e.InnerException?.Message ?? e.Message; // a driver without graph entry points fails in the type initializer
                DisposeGraphs();
                _graphs = null;
                pass(longestContext);
                return;
            }
            _graphs[(bucket, greedy)] = graph;
        }
        graph.Launch();
    }

    /// <summary>Whether decode steps replay CUDA graphs (where the device has them, and
    /// <see cref="Qwen2GpuOptions.CudaGraphs"/> asked for them at load); off, they launch one by one. Switchable
    /// between steps (the bench compares both on one model).</summary>
    public bool CudaGraphs { get; set; } = true;

    /// <summary>Whether passes below <see cref="GpuKernels.TiledMinTokens"/> rows rotate q and k and write the KV cache
    /// in the q|k|v projection's epilogue (one launch fewer per layer); off, the RoPE launch follows the projection, as
    /// for larger batches. Both leave the same bits. Switchable between steps (the bench and the tests compare both);
    /// captured graphs are dropped on a change.</summary>
    public bool FusedRope
    {
        get => _fusedRope;
        set => SwitchPath(ref _fusedRope, value);
    }

    private bool _fusedRope = true;

    /// <summary>Sets a switch that changes which kernels a step launches. On a change captured graphs go, and the next
    /// graph is captured only after an eager step has loaded every kernel of the new path (a capture must not be a
    /// kernel's first use).</summary>
    private void SwitchPath(ref bool field, bool value)
    {
        if (value == field) return;
        field = value;
        DisposeGraphs();
        _eagerDecodeSteps = 0;
        _eagerGreedySteps = 0;
    }

    /// <summary>Whether int8 decode passes make the norm after the o and down projections in those projections' tails
    /// (<see cref="RmsNormTail"/>: two launches fewer per layer); off (the default), each norm is a launch of its own.
    /// Both leave the same bits. Off by default because it is slower: on an H200 the tail added 6–7 µs to o and down
    /// against a 3 µs norm launch (the last group normalizes the row alone, after a device fence in every group), and
    /// 7B Q4_0 decode took 2.73 ms/token with it against 2.56 without. Switchable between steps (the bench and the
    /// tests compare both); captured graphs are dropped on a change.</summary>
    public bool FusedNorms
    {
        get => _fusedNorms;
        set => SwitchPath(ref _fusedNorms, value);
    }

    private bool _fusedNorms;

    /// <summary>Whether decode-sized batches (the split-K attention path) merge the attention's chunks in the split
    /// kernel's own tail (<see cref="AttentionMergeTail"/>: one launch fewer per layer); off (the default), the merge
    /// is a launch of its own. Both leave the same bits. Off until a GPU has timed it: the norm tails, the same
    /// last-group pattern, were slower on an H200, though there one group normalized a whole row alone, while here each
    /// (row, KV head) has its own last group and the merges run side by side. Switchable between steps (the bench and
    /// the tests compare both); captured graphs are dropped on a change.</summary>
    public bool MergedAttention
    {
        get => _mergedAttention;
        set => SwitchPath(ref _mergedAttention, value);
    }

    private bool _mergedAttention;

    /// <summary>Whether int8 decode passes make SiLU·mul and the down projection's int8 blocks in the gate|up
    /// projection's tail (<see cref="SwiGluInt8Tail"/>: one launch fewer per layer); off (the default), SiLU·mul is a
    /// launch of its own. Both leave the same bits. Off until a GPU has timed it (the last-group pattern costs each
    /// group a device fence; here the last group of a 32-value block makes just that block). Switchable between steps;
    /// captured graphs are dropped on a change.</summary>
    public bool FusedSwiGlu
    {
        get => _fusedSwiGlu;
        set => SwitchPath(ref _fusedSwiGlu, value);
    }

    private bool _fusedSwiGlu;

    /// <summary>Why decode steps stopped replaying CUDA graphs (null while they do, or where graphs are off).</summary>
    public string? GraphFallbackReason { get; private set; }

    private void DisposeGraphs()
    {
        if (_graphs is null) return;
        foreach (var g in _graphs.Values) g.Dispose();
        _graphs.Clear();
    }

    private int Validate(ForwardRequest[] requests)
    {
        int hidden = Config.HiddenSize;
        long rows = 0;
        var seen = new HashSet<int>();
        for (int i = 0; i < requests.Length; i++)
        {
            var request = requests[i];
            int sequence = request.Sequence.Value;
            int length = _cache.Length(sequence); // throws UnknownSequenceException
            if (!seen.Add(sequence)) throw new ArgumentException($"sequence {sequence} appears twice in one forward batch", nameof(requests));
            ForwardRequestCheck.Validate(request, i, length, MaxSequenceLength, hidden, EmbeddingRows);
            int count = request.Tokens.Length;
            rows += count;
        }
        if (rows * Math.Max(Config.IntermediateSize * 2, _qkvWidth) > int.MaxValue)
            throw new ArgumentException($"a batch of {rows} rows is too large for one forward pass; split it", nameof(requests));
        return (int)rows;
    }

    /// <summary>h = E[ids]; rows the caller supplies (image/audio embeddings) are then overwritten from the host.</summary>
    private void Embed(ForwardRequest[] requests, int rows, int[] ids, Scratch s)
    {
        // Supplied rows may carry any id; gather a valid one for them before overwriting.
        int row = 0;
        bool anySupplied = false;
        foreach (var request in requests)
        {
            ReadOnlySpan<bool> mask = request.EmbeddingMask is { } m ? m.Span : default;
            for (int t = 0; t < request.Tokens.Length; t++, row++)
                if (request.Embeddings is not null && (mask.IsEmpty || mask[t]))
                {
                    ids[row] = 0;
                    anySupplied = true;
                }
        }
        if (anySupplied) s.Ids.SubView(0, rows).CopyFromCPU(ids);
        _device.Kernels.Gather(_weights.TokenEmbedding, s.Ids, rows, s.Hidden.View);
        if (!anySupplied) return;

        int hidden = Config.HiddenSize;
        row = 0;
        foreach (var request in requests)
        {
            ReadOnlySpan<bool> mask = request.EmbeddingMask is { } m ? m.Span : default;
            for (int t = 0; t < request.Tokens.Length; t++, row++)
                if (request.Embeddings is { } e && (mask.IsEmpty || mask[t]))
                    ((ArrayView<float>)s.Hidden.View).SubView((long)row * hidden, hidden).CopyFromCPU(e.Span.Slice(t * hidden, hidden));
        }
    }

    /// <summary>One decoder layer; <paramref name="inputNormed"/>: the previous layer's down projection already wrote
    /// this layer's attention norm (normed and its int8 blocks in <see cref="_normBlocks"/>).</summary>
    /// <returns>Whether this layer's down projection made the next norm (the next layer's attention norm, or the final one).</returns>
    private bool DecoderLayer(ForwardRequest[] batch, int layer, int rows, Scratch s, int attentionContext, bool inputNormed)
    {
        var w = _weights.Layers[layer];
        var k = _device.Kernels;
        var c = Config;

        var rope = new RopeArgs
        {
            Qkv = s.Qkv.View, RowStride = _qkvWidth, Positions = s.Positions, Slots = s.Slots,
            Cos = _cos.View, Sin = _sin.View, KeyCache = _cache.Keys(layer), ValueCache = _cache.Values(layer),
            Heads = c.Heads, KvHeads = c.KvHeads, HeadDim = c.HeadDim,
        };
        bool fusedRope = FusedRope && rows < k.TiledMinTokens;
        if (inputNormed)
        {
            var blocks = _normBlocks!.For(c.HiddenSize);
            if (fusedRope) w.QueryKeyValue.ApplyRopeAndCache(k, s.Normed.View, blocks, rows, rope);
            else
            {
                w.QueryKeyValue.ApplyQuantized(k, blocks, rows, s.Qkv.View);
                k.RopeAndCache(rope, rows);
            }
        }
        else if (!fusedRope)
        {
            NormAndProject(s.Hidden.View, rows, w.AttentionNorm.View, s.Normed.View, w.QueryKeyValue, s.Qkv.View);
            k.RopeAndCache(rope, rows);
        }
        else if (w.QueryKeyValue.TakesInt8(rows, _int8))
        {
            // Decode and short batches: RoPE and the cache write ride in the projection's epilogue (one launch fewer).
            var blocks = _int8!.For(w.QueryKeyValue.Inputs);
            k.RmsNormInt8(s.Hidden.View, rows, w.AttentionNorm.View, _eps, s.Normed.View, blocks);
            w.QueryKeyValue.ApplyRopeAndCache(k, s.Normed.View, blocks, rows, rope);
        }
        else
        {
            k.RmsNorm(s.Hidden.View, rows, w.AttentionNorm.View, _eps, s.Normed.View);
            w.QueryKeyValue.ApplyRopeAndCache(k, s.Normed.View, null, rows, rope);
        }
        // With int8 activations the split-K merge also quantizes the attention output for the o projection.
        Int8Blocks? attentionBlocks = w.AttentionOutput.TakesInt8(rows, _int8) ? _int8!.For(c.HiddenSize) : null;
        bool quantized = k.Attention(new AttentionArgs
        {
            Query = s.Qkv.View, QueryStride = _qkvWidth, Output = s.Attention.View,
            KeyCache = _cache.Keys(layer), ValueCache = _cache.Values(layer),
            Positions = s.Positions, TableStarts = s.TableStarts, BlockTables = s.Tables,
            Heads = c.Heads, GroupSize = c.GroupSize, HeadDim = c.HeadDim, BlockSize = _cache.BlockSize, Scale = _attentionScale,
        }, rows, _splitAttention, attentionContext, quantizeOutput: attentionBlocks, prefillTiles: s.Tiles, mergeInTail: MergedAttention);
        // SiLU·mul in the gate|up projection's tail, writing the down projection's int8 blocks.
        SwiGluInt8Tail? swiGlu = SwiGluTail(w, rows, s);
        if (quantized && TailNorms(rows) && w.GateUp.TakesInt8(rows, _int8))
        {
            // The MLP norm in the o projection's tail: gate|up reads the blocks it leaves.
            var mlpNorm = NormTail(w.AttentionOutput, s.Hidden.View, w.MlpNorm.View, s.Normed.View);
            w.AttentionOutput.ApplyQuantized(k, attentionBlocks!.Value, rows, s.Hidden.View, accumulate: true, mlpNorm);
            var normed = _normBlocks!.For(c.HiddenSize);
            if (swiGlu is { } t) w.GateUp.ApplyQuantizedThenSwiGlu(k, normed, rows, s.GateUp.View, t);
            else w.GateUp.ApplyQuantized(k, normed, rows, s.GateUp.View);
        }
        else
        {
            if (quantized) w.AttentionOutput.ApplyQuantized(k, attentionBlocks!.Value, rows, s.Hidden.View, accumulate: true);
            else w.AttentionOutput.Apply(k, s.Attention.View, rows, s.Hidden.View, accumulate: true, int8: _int8);
            NormAndProject(s.Hidden.View, rows, w.MlpNorm.View, s.Normed.View, w.GateUp, s.GateUp.View, swiGlu);
        }

        if (w.Down.TakesInt8(rows, _int8))
        {
            var activated = swiGlu is { } made ? made.Q : _int8!.For(c.IntermediateSize);
            if (swiGlu is null) k.SiluMulFusedInt8(s.GateUp.View, s.Activated.View, rows, c.IntermediateSize, activated);
            var next = TailNorms(rows) ? NextNorm(batch, layer, rows, s) : null;
            RmsNormTail? tail = next is { } n ? NormTail(w.Down, s.Hidden.View, n.Weight, n.Output) : null;
            w.Down.ApplyQuantized(k, activated, rows, s.Hidden.View, accumulate: true, tail);
            return tail is not null;
        }
        k.SiluMulFused(s.GateUp.View, s.Activated.View, rows, c.IntermediateSize);
        w.Down.Apply(k, s.Activated.View, rows, s.Hidden.View, accumulate: true);
        return false;
    }

    /// <summary>The SiLU·mul tail for this pass's gate|up launch (<see cref="FusedSwiGlu"/>), or null where SiLU·mul is
    /// launched apart: the switch off, a batch too large for int8 activations or the counters, down not reading int8
    /// blocks, or a gate|up of more than one matrix.</summary>
    private SwiGluInt8Tail? SwiGluTail(Qwen2GpuLayer w, int rows, Scratch s)
    {
        if (!FusedSwiGlu || _swiGluCounters is null || rows > _swiGluCounters.Tokens) return null;
        if (!w.GateUp.CarriesSwiGlu || !w.GateUp.TakesInt8(rows, _int8) || !w.Down.TakesInt8(rows, _int8)) return null;
        return GpuKernels.SwiGluTail(w.GateUp.SingleMatrix, s.GateUp.View, s.Activated.View, _swiGluBlocks!.For(Config.IntermediateSize), _swiGluCounters);
    }

    /// <summary>Whether this pass makes the norms after the o and down projections in their tails.</summary>
    private bool TailNorms(int rows) => FusedNorms && _tailCounters is not null && rows <= _tailCounters.Tokens;

    /// <summary>
    /// The norm that follows layer <paramref name="layer"/>'s down projection, when its tail can make it: the next
    /// layer's attention norm (into Normed) where that layer's q|k|v takes int8 blocks; after the last layer the final
    /// norm (into LogitInput) where every row wants logits (their logit rows are then the pass's rows, in order) and
    /// the lm_head takes int8 blocks. Null otherwise: the norm is launched apart.
    /// </summary>
    private (ArrayView<float> Weight, ArrayView<float> Output)? NextNorm(ForwardRequest[] batch, int layer, int rows, Scratch s)
    {
        if (layer + 1 < _weights.Layers.Length)
        {
            var next = _weights.Layers[layer + 1];
            return next.QueryKeyValue.TakesInt8(rows, _int8) ? (next.AttentionNorm.View, s.Normed.View) : null;
        }
        bool everyRow = batch.All(r => r.AllLogits || r.Tokens.Length == 1);
        return everyRow && _weights.Output.TakesInt8(rows, _int8) ? (_weights.OutputNorm.View, s.LogitInput.View) : null;
    }

    /// <summary>The tail of <paramref name="projection"/> (adding into h) that writes RMSNorm(h)⊙weight into
    /// <paramref name="output"/> and its int8 blocks into <see cref="_normBlocks"/>.</summary>
    private RmsNormTail NormTail(FusedLinear projection, ArrayView<float> h, ArrayView<float> weight, ArrayView<float> output) =>
        GpuKernels.RmsNormTail(h, weight, _eps, output, _normBlocks!.For(Config.HiddenSize), _tailCounters!, projection.Matrices);

    /// <summary>
    /// y = RMSNorm(x)·Wᵀ (+ b). When the projection takes int8 activations the norm kernel writes x's int8 blocks
    /// too, so no quantize launch sits between them; otherwise the float path as before.
    /// </summary>
    private void NormAndProject(ArrayView<float> x, int rows, ArrayView<float> weight, ArrayView<float> normed,
        FusedLinear projection, ArrayView<float> y, SwiGluInt8Tail? swiGlu = null)
    {
        var k = _device.Kernels;
        if (projection.TakesInt8(rows, _int8))
        {
            var blocks = _int8!.For(projection.Inputs);
            k.RmsNormInt8(x, rows, weight, _eps, normed, blocks);
            if (swiGlu is { } tail) projection.ApplyQuantizedThenSwiGlu(k, blocks, rows, y, tail);
            else projection.ApplyQuantized(k, blocks, rows, y);
        }
        else
        {
            k.RmsNorm(x, rows, weight, _eps, normed);
            projection.Apply(k, normed, rows, y);
        }
    }

    /// <param name="normed">The last down projection's tail already wrote the final norm of every row into LogitInput
    /// and its int8 blocks into <see cref="_normBlocks"/> (<see cref="NextNorm"/>).</param>
    private void LogitKernels(ForwardRequest[] requests, int rows, Scratch s, bool normed)
    {
        int hidden = Config.HiddenSize, vocab = VocabularySize;
        var k = _device.Kernels;
        if (HiddenStates is not null)
        {
            k.RmsNorm(s.Hidden.View, rows, _weights.OutputNorm.View, _eps, s.Normed.View);
            Observe(Config.Layers + 1, rows, s.Normed.View);
        }
        if (normed)
        {
            s.EnsureLogits(_device, rows, vocab);
            _weights.Output.ApplyQuantized(k, _normBlocks!.For(hidden), rows, s.Logits!.View);
            return;
        }

        // The rows that need logits (each request's last, or all of them), normalised into LogitInput in order —
        // and quantized by the same launches when the lm_head takes int8 activations for that many rows.
        int totalLogitRows = requests.Sum(r => r.AllLogits ? r.Tokens.Length : 1);
        bool int8 = _weights.Output.TakesInt8(totalLogitRows, _int8);
        var blocks = int8 ? _int8!.For(hidden) : default;
        int row = 0, logitRows = 0;
        foreach (var request in requests)
        {
            int count = request.Tokens.Length;
            int first = request.AllLogits ? row : row + count - 1, take = request.AllLogits ? count : 1;
            var input = ((ArrayView<float>)s.Hidden.View).SubView((long)first * hidden);
            var output = ((ArrayView<float>)s.LogitInput.View).SubView((long)logitRows * hidden);
            if (int8) k.RmsNormInt8(input, take, _weights.OutputNorm.View, _eps, output, blocks.FromToken(logitRows));
            else k.RmsNorm(input, take, _weights.OutputNorm.View, _eps, output);
            row += count;
            logitRows += take;
        }
        s.EnsureLogits(_device, logitRows, vocab);
        if (int8) _weights.Output.ApplyQuantized(k, blocks, logitRows, s.Logits!.View);
        else _weights.Output.Apply(k, s.LogitInput.View, logitRows, s.Logits!.View);
    }

    /// <summary>
    /// Each request's logits rows to the host: one asynchronous copy of all of them into page-locked memory, one
    /// wait (the step's only synchronization), then host copies. A copy into pageable memory goes through the driver's
    /// staging buffer in pieces, several times slower for a 600 KB row of 152K logits.
    /// </summary>
    private void CopyLogits(ForwardRequest[] requests, Scratch s)
    {
        int vocab = VocabularySize;
        int rows = requests.Sum(r => r.AllLogits ? r.Tokens.Length : 1);
        var stream = _device.Accelerator.DefaultStream;
        ((ArrayView<float>)s.Logits!.View).SubView(0, (long)rows * vocab).CopyTo(stream, s.HostLogits!.ArrayView.SubView(0, (long)rows * vocab));
        stream.Synchronize();
        ReadOnlySpan<float> host = s.HostLogits.Span;
        int logitRow = 0;
        foreach (var request in requests)
        {
            int take = request.AllLogits ? request.Tokens.Length : 1;
            int length = take * vocab;
            if (request.Logits is null || request.Logits.Length < length) request.Logits = new float[length];
            host.Slice(logitRow * vocab, length).CopyTo(request.Logits);
            logitRow += take;
        }
    }

    private void Observe(int stage, int rows, ArrayView<float> values)
    {
        if (HiddenStates is null) return;
        var host = new float[rows * Config.HiddenSize];
        values.SubView(0, host.Length).CopyToCPU(host.AsSpan());
        HiddenStates(stage, rows, host);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeGraphs();
        _greedy?.Dispose();
        _candidates?.Dispose();
        _scratch?.Dispose();
        _int8?.Dispose();
        _normBlocks?.Dispose();
        _tailCounters?.Dispose();
        _swiGluCounters?.Dispose();
        _swiGluBlocks?.Dispose();
        _splitAttention.Dispose();
        _cos.Dispose();
        _sin.Dispose();
        _cache.Dispose();
        _weights.Dispose();
        _ownedCheckpoint?.Dispose();
        if (_ownsDevice) _device.Dispose();
    }

    /// <summary>Device activations for up to <see cref="Rows"/> rows (grown on demand, never shrunk).</summary>
    private sealed class Scratch : IDisposable
    {
        private readonly List<IDisposable> _buffers = [];

        public int Rows { get; private init; }
        /// <summary>The batch layout, one device buffer so a step uploads it in one copy: ids, positions, cache slots
        /// and table starts (Rows each), the prefill attention's tiles (2 ints per tile, at most Rows tiles), then the
        /// block tables.</summary>
        private MemoryBuffer1D<int, Stride1D.Dense> _layout = null!;
        private GpuDevice _device = null!;
        private int[] _staging = [];
        public ArrayView<int> Ids, Positions, Slots, TableStarts, TileList, Tables;
        private int _tileCount;

        /// <summary>This step's query tiles for the prefill attention.</summary>
        public PrefillTiles Tiles => new(TileList, _tileCount);
        public required MemoryBuffer1D<float, Stride1D.Dense> Hidden, Normed, Qkv, Attention, GateUp, Activated, LogitInput;
        public MemoryBuffer1D<float, Stride1D.Dense>? Logits;
        private int _logitRows;

        /// <summary>Bumped whenever a buffer is reallocated (captured CUDA graphs hold the old addresses).</summary>
        public int Generation { get; private set; }

        public static Scratch Create(GpuDevice device, LlmConfig c, int qkvWidth, int rows)
        {
            MemoryBuffer1D<T, Stride1D.Dense> A<T>(long n) where T : unmanaged => device.Allocate<T>(n);
            var s = new Scratch
            {
                Rows = rows,
                Hidden = A<float>((long)rows * c.HiddenSize), Normed = A<float>((long)rows * c.HiddenSize),
                Qkv = A<float>((long)rows * qkvWidth), Attention = A<float>((long)rows * c.HiddenSize),
                GateUp = A<float>((long)rows * 2 * c.IntermediateSize), Activated = A<float>((long)rows * c.IntermediateSize),
                LogitInput = A<float>((long)rows * c.HiddenSize),
            };
            s._buffers.AddRange([s.Hidden, s.Normed, s.Qkv, s.Attention, s.GateUp, s.Activated, s.LogitInput]);
            s._device = device;
            s.AllocateLayout(tableCapacity: 64, grownCapacity: 64);
            return s;
        }

        /// <summary>Room for <paramref name="entries"/> block-table entries (grown to at least twice the old room).</summary>
        public void EnsureTableCapacity(int entries)
        {
            if (Tables.Length < entries) AllocateLayout(entries, (int)Math.Max(entries, 2 * Tables.Length));
        }

        /// <summary>The new layout buffer is made before the old one goes: a refusal leaves the old one in place.</summary>
        private void AllocateLayout(int tableCapacity, int grownCapacity)
        {
            // Poisoned with the rest under MINICPM_GPU_POISON.
            var layout = GrowTo(_device, tableCapacity, grownCapacity, n => _device.Allocate<int>(TablesAt + n));
            tableCapacity = (int)(layout.Length - TablesAt);
            _layout?.Dispose();
            _layout = layout;
            _staging = new int[_layout.Length];
            ArrayView<int> all = _layout.View;
            Ids = all.SubView(0, Rows);
            Positions = all.SubView(Rows, Rows);
            Slots = all.SubView(2L * Rows, Rows);
            TableStarts = all.SubView(3L * Rows, Rows);
            TileList = all.SubView(4L * Rows, 2L * PrefillAttentionKernel.MaxTiles(Rows));
            Tables = all.SubView(TablesAt, tableCapacity);
            Generation++;
        }

        private int TablesAt => 4 * Rows + 2 * PrefillAttentionKernel.MaxTiles(Rows);

        public void Upload(int[] ids, int[] positions, int[] slots, int[] tableStarts, int[] tiles, int tileCount, int[] tables)
        {
            EnsureTableCapacity(tables.Length);
            // What this step does not set (rows past the batch, tiles past the count) goes up as −1, never as an
            // earlier step's plausible ids and slots: a kernel that read past the batch would fail loudly.
            Array.Fill(_staging, -1, 0, TablesAt + tables.Length);
            ids.CopyTo(_staging, 0);
            positions.CopyTo(_staging, Rows);
            slots.CopyTo(_staging, 2 * Rows);
            tableStarts.CopyTo(_staging, 3 * Rows);
            tiles.CopyTo(_staging, 4 * Rows);
            _tileCount = tileCount;
            tables.CopyTo(_staging, TablesAt);
            ((ArrayView<int>)_layout.View).SubView(0, TablesAt + tables.Length).CopyFromCPU(_staging.AsSpan(0, TablesAt + tables.Length));
        }

        public void EnsureLogits(GpuDevice device, int rows, int vocab)
        {
            if (Logits is not null && _logitRows >= rows) return;
            // Freed before the larger pair is made (room on a full device); until both exist, no rows are held, so
            // a refused allocation leaves nothing freed in use and the next pass tries again.
            Logits?.Dispose();
            HostLogits?.Dispose();
            (Logits, HostLogits) = (null, null);
            Generation++;
            int grown = Math.Max(rows, 2 * _logitRows);
            _logitRows = 0;
            Logits = GrowTo(device, rows, grown, n => device.Allocate<float>((long)n * vocab));
            grown = (int)(Logits.Length / vocab);
            HostLogits = device.Accelerator.AllocatePageLocked1D<float>((long)grown * vocab);
            _logitRows = grown;
        }

        /// <summary>Page-locked host memory the logits are copied into (as many rows as <see cref="Logits"/>).</summary>
        public PageLockedArray1D<float>? HostLogits;

        public void Dispose()
        {
            foreach (var b in _buffers) b.Dispose();
            _layout.Dispose();
            HostLogits?.Dispose();
            Logits?.Dispose();
        }
    }
}
