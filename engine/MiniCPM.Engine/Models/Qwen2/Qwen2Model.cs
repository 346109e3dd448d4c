using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.KvCache;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// The Qwen2 decoder on the CPU (reference doc §6), float32 activations over memory-mapped weights:
/// <code>
/// h = E[ids]                                   (or caller-supplied embedding rows)
/// per layer:  x = RMSNorm(h)
///             q, k, v = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv;  RoPE(q, k) at the cache positions
///             K/V cache ← k, v;  a = softmax(q·Kᵀ/√d)·V  (causal, grouped-query)
///             h += a·Woᵀ
///             h += Wdown(silu(Wgate·RMSNorm(h)) ⊙ Wup·RMSNorm(h))
/// logits = RMSNorm(h)·Wlmᵀ                     (Wlm = E when tied)
/// </code>
/// Every forward pass runs all rows of all requests together: the linear layers are one matrix-matrix product over
/// the batch (a matrix-vector product for a single decode row); only attention is per sequence.
/// One caller at a time: the model's scratch buffers, cache and thread pool belong to one thread of control.
/// </summary>
public sealed class Qwen2Model : ILanguageModel
{
    private readonly Checkpoint? _ownedCheckpoint;
    private readonly Qwen2Weights _weights;
    private readonly PagedKvCache _cache;
    private readonly CpuThreadPool? _pool;
    private readonly ActivationPrecision _activations;
    private readonly RotaryEmbedding _rope;
    private readonly Qwen2Scratch _scratch;
    private readonly float _eps;
    private readonly float _attentionScale;
    private SequenceAppend[] _appends = [];
    private ForwardRequest[] _batch = []; // the requests, copied so the passes below iterate a span (no enumerators)
    private bool _disposed;

    /// <summary>Builds the decoder over an opened checkpoint, which must outlive the model.</summary>
    public Qwen2Model(Checkpoint checkpoint, Qwen2Options? options = null) : this(checkpoint, options, owns: false) { }

    private Qwen2Model(Checkpoint checkpoint, Qwen2Options? options, bool owns)
    {
        options ??= new Qwen2Options();
        Config = checkpoint.Config.Llm ?? throw new ModelFormatException(checkpoint.SourcePath, "the checkpoint has no language model");
        var problems = checkpoint.Config.Problems();
        if (problems.Count > 0) throw new ModelFormatException(checkpoint.SourcePath, "unusable configuration: " + string.Join("; ", problems));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Threads, 1, nameof(options.Threads));

        _weights = Qwen2Weights.Load(checkpoint, Config);
        var shape = new KvCacheShape(Config.Layers, Config.KvHeads, Config.HeadDim, options.KvBlockSize);
        _cache = options.KvCacheBytes is { } bytes
            ? PagedKvCache.WithByteCapacity(shape, bytes)
            : PagedKvCache.WithTokenCapacity(shape, options.KvCacheTokens);
        _pool = options.Threads > 1 ? new CpuThreadPool(options.Threads) : null;
        _activations = options.Activations;
        _rope = new RotaryEmbedding(Config.HeadDim, (float)Config.RopeTheta);
        _eps = (float)Config.RmsNormEps;
        _attentionScale = 1f / MathF.Sqrt(Config.HeadDim);
        _scratch = new Qwen2Scratch(Config.HiddenSize, shape.TokenWidth, Config.IntermediateSize, VocabularySize);
        MaxSequenceLength = Math.Min(Config.MaxPositions, _cache.CapacityTokens);
        _ownedCheckpoint = owns ? checkpoint : null;
    }

    /// <summary>Opens a GGUF file, safetensors file or HF folder and builds the decoder; the model owns the checkpoint.</summary>
    public static Qwen2Model Load(string path, Qwen2Options? options = null)
    {
        var checkpoint = Checkpoint.Open(path, options?.WeightResidency ?? FileResidency.Mapped);
        try
        {
            return new Qwen2Model(checkpoint, options, owns: true);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public LlmConfig Config { get; }
    public int VocabularySize => _weights.Output.Outputs;
    /// <summary>Rows of the embedding table: the valid token ids are [0, EmbeddingRows).</summary>
    public int EmbeddingRows => _weights.TokenEmbedding.Rows;
    public int MaxSequenceLength { get; }
    public PagedKvCache Cache => _cache;

    /// <summary>See <see cref="HiddenStateObserver"/>; null (the default) for normal running.</summary>
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
        if (_batch.Length < requests.Count) _batch = new ForwardRequest[requests.Count];
        for (int i = 0; i < requests.Count; i++)
            _batch[i] = requests[i] ?? throw new ArgumentNullException(nameof(requests), $"request {i} is null");
        try
        {
            RunBatch(_batch.AsSpan(0, requests.Count));
        }
        finally
        {
            Array.Clear(_batch); // do not keep the caller's requests (and their logits) alive
        }
    }

    private void RunBatch(ReadOnlySpan<ForwardRequest> requests)
    {
        // 1. Check everything and reserve cache blocks for the whole batch; nothing has changed if this throws.
        int rows = Validate(requests);
        _cache.Reserve(_appends.AsSpan(0, requests.Length));

        // 2. Lay out the batch: positions and block tables of every row.
        var s = _scratch;
        s.EnsureRows(rows);
        int tableEntries = 0;
        for (int i = 0; i < requests.Length; i++) tableEntries += _cache.BlockTable(requests[i].Sequence.Value).Length;
        s.EnsureBlockTables(tableEntries);
        int row = 0, tableStart = 0;
        foreach (var request in requests)
        {
            int sequence = request.Sequence.Value, start = _cache.Length(sequence);
            var table = _cache.BlockTable(sequence);
            table.CopyTo(s.BlockTables.AsSpan(tableStart));
            for (int t = 0; t < request.Tokens.Length; t++, row++)
            {
                s.Positions[row] = start + t;
                s.TableStarts[row] = tableStart;
            }
            tableStart += table.Length;
        }

        // 3. The decoder.
        Embed(requests, rows);
        Observe(0, rows, s.Hidden);
        for (int layer = 0; layer < _weights.Layers.Length; layer++)
        {
            DecoderLayer(layer, requests, rows);
            Observe(layer + 1, rows, s.Hidden);
        }

        // 4. The new positions are cached: commit them, then compute the logits asked for.
        foreach (var request in requests) _cache.Advance(request.Sequence.Value, request.Tokens.Length);
        Logits(requests, rows);
    }

    /// <summary>Checks the batch and fills <see cref="_appends"/>; returns the number of rows.</summary>
    private int Validate(ReadOnlySpan<ForwardRequest> requests)
    {
        if (_appends.Length < requests.Length) _appends = new SequenceAppend[requests.Length];
        int hidden = Config.HiddenSize;
        long rows = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            var request = requests[i];
            int sequence = request.Sequence.Value;
            int length = _cache.Length(sequence); // throws UnknownSequenceException
            for (int j = 0; j < i; j++)
                if (_appends[j].Sequence == sequence)
                    throw new ArgumentException($"sequence {sequence} appears twice in one forward batch", nameof(requests));
            ForwardRequestCheck.Validate(request, i, length, MaxSequenceLength, hidden, EmbeddingRows);
            int count = request.Tokens.Length;

            _appends[i] = new SequenceAppend(sequence, count);
            rows += count;
        }
        if (rows * Math.Max(Config.IntermediateSize, hidden) > int.MaxValue)
            throw new ArgumentException($"a batch of {rows} rows is too large for one forward pass; split it", nameof(requests));
        return (int)rows;
    }

    /// <summary>h = E[ids], or the caller's rows where the request supplies embeddings.</summary>
    private void Embed(ReadOnlySpan<ForwardRequest> requests, int rows)
    {
        int hidden = Config.HiddenSize;
        var output = _scratch.Hidden.AsSpan(0, rows * hidden);
        int row = 0;
        foreach (var request in requests)
        {
            var tokens = request.Tokens.Span;
            ReadOnlySpan<float> embeddings = request.Embeddings is { } e ? e.Span : default;
            ReadOnlySpan<bool> mask = request.EmbeddingMask is { } m ? m.Span : default;
            for (int t = 0; t < tokens.Length; t++, row++)
            {
                var destination = output.Slice(row * hidden, hidden);
                bool supplied = request.Embeddings is not null && (mask.IsEmpty || mask[t]);
                if (supplied) embeddings.Slice(t * hidden, hidden).CopyTo(destination);
                else Embedding.RowToFloat(_weights.TokenEmbedding, tokens[t], destination);
            }
        }
    }

    private void DecoderLayer(int layer, ReadOnlySpan<ForwardRequest> requests, int rows)
    {
        var w = _weights.Layers[layer];
        var s = _scratch;
        int hidden = Config.HiddenSize, kvWidth = Config.KvHeads * Config.HeadDim, ffn = Config.IntermediateSize;
        var h = s.Hidden.AsSpan(0, rows * hidden);
        var x = s.Normed.AsSpan(0, rows * hidden);

        // Attention block: x = RMSNorm(h); q, k, v; RoPE; cache; attend; h += o_proj(a).
        RmsNorm.ApplyRows(h, rows, w.AttentionNorm, _eps, x, _pool);
        w.QueryKeyValue.Apply(x, rows, [s.Query, s.Key, s.Value], _pool, _activations);
        var positions = s.Positions.AsSpan(0, rows);
        _rope.ApplyRows(s.Query, rows, Config.Heads, positions);
        _rope.ApplyRows(s.Key, rows, Config.KvHeads, positions);
        WriteCache(layer, requests, kvWidth);
        Attend(layer, rows);
        w.AttentionOutput.Apply(s.Attention, rows, s.Projected, _pool, _activations);
        Elementwise.Add(h, s.Projected.AsSpan(0, rows * hidden), h);

        // MLP block: x = RMSNorm(h); h += down(silu(gate(x)) ⊙ up(x)).
        RmsNorm.ApplyRows(h, rows, w.MlpNorm, _eps, x, _pool);
        w.GateUp.Apply(x, rows, [s.Gate, s.Up], _pool, _activations);
        var gate = s.Gate.AsSpan(0, rows * ffn);
        Activations.SiluMul(gate, s.Up.AsSpan(0, rows * ffn), gate);
        w.Down.Apply(gate, rows, s.Projected, _pool, _activations);
        Elementwise.Add(h, s.Projected.AsSpan(0, rows * hidden), h);
    }

    /// <summary>Stores this layer's new keys and values at the rows' positions (reserved by the cache beforehand).</summary>
    private void WriteCache(int layer, ReadOnlySpan<ForwardRequest> requests, int kvWidth)
    {
        int row = 0;
        foreach (var request in requests)
        {
            int sequence = request.Sequence.Value, start = _cache.Length(sequence);
            for (int t = 0; t < request.Tokens.Length; t++, row++)
            {
                _scratch.Key.AsSpan(row * kvWidth, kvWidth).CopyTo(_cache.Key(layer, sequence, start + t));
                _scratch.Value.AsSpan(row * kvWidth, kvWidth).CopyTo(_cache.Value(layer, sequence, start + t));
            }
        }
    }

    private unsafe void Attend(int layer, int rows)
    {
        var s = _scratch;
        int longest = 0;
        for (int r = 0; r < rows; r++) longest = Math.Max(longest, s.Positions[r] + 1);
        fixed (float* queries = s.Query, output = s.Attention)
        fixed (int* positions = s.Positions, tableStarts = s.TableStarts, tables = s.BlockTables)
        {
            var job = new PagedAttention
            {
                Queries = queries,
                Output = output,
                KeyArena = _cache.KeyArena(layer),
                ValueArena = _cache.ValueArena(layer),
                RowPositions = positions,
                RowTableStarts = tableStarts,
                BlockTables = tables,
                Heads = Config.Heads,
                GroupSize = Config.GroupSize,
                HeadDim = Config.HeadDim,
                BlockSize = _cache.BlockSize,
                Scale = _attentionScale,
                LongestContext = longest,
            };
            int items = rows * Config.Heads;
            if (_pool is null) job.Execute(0, items);
            else _pool.For(items, job);
        }
    }

    /// <summary>Final RMSNorm and lm_head for the rows that need logits (every row, or each request's last).</summary>
    private void Logits(ReadOnlySpan<ForwardRequest> requests, int rows)
    {
        int hidden = Config.HiddenSize, vocab = VocabularySize;
        var s = _scratch;
        var h = s.Hidden.AsSpan(0, rows * hidden);
        if (HiddenStates is not null)
        {
            // Debug path: normalise every row so the observer sees the whole final stage.
            RmsNorm.ApplyRows(h, rows, _weights.OutputNorm, _eps, s.Normed, _pool);
            Observe(Config.Layers + 1, rows, s.Normed);
        }

        int logitRows = 0;
        foreach (var request in requests) logitRows += request.AllLogits ? request.Tokens.Length : 1;
        s.EnsureLogitRows(logitRows);
        int row = 0, logitRow = 0;
        foreach (var request in requests)
        {
            int count = request.Tokens.Length;
            int first = request.AllLogits ? row : row + count - 1, take = request.AllLogits ? count : 1;
            RmsNorm.ApplyRows(h.Slice(first * hidden, take * hidden), take, _weights.OutputNorm, _eps,
                s.LogitInput.AsSpan(logitRow * hidden, take * hidden), _pool);
            row += count;
            logitRow += take;
        }
        _weights.Output.Apply(s.LogitInput, logitRows, s.Logits, _pool, _activations);

        logitRow = 0;
        foreach (var request in requests)
        {
            int take = request.AllLogits ? request.Tokens.Length : 1;
            int length = take * vocab;
            if (request.Logits is null || request.Logits.Length < length) request.Logits = new float[length];
            s.Logits.AsSpan(logitRow * vocab, length).CopyTo(request.Logits);
            logitRow += take;
        }
    }

    private void Observe(int stage, int rows, float[] values) =>
        HiddenStates?.Invoke(stage, rows, values.AsSpan(0, rows * Config.HiddenSize));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool?.Dispose();
        _cache.Dispose();
        _ownedCheckpoint?.Dispose();
    }
}
