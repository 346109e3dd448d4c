using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// The shape of a synthetic (random-weight) Qwen2 language model: a name and its <see cref="LlmConfig"/>, whose
/// bos/eos ids point at the ChatML specials of the fitted vocabulary (see <see cref="Create"/>); with
/// <see cref="Vision"/> and <see cref="Resampler"/> set, a MiniCPM-V 2.6 model with its vision tower.
/// </summary>
public sealed record SyntheticModelSpec(string Name, LlmConfig Llm)
{
    /// <summary>The SigLIP tower, or null for a text-only model.</summary>
    public VisionConfig? Vision { get; init; }

    /// <summary>The resampler (set together with <see cref="Vision"/>).</summary>
    public ResamplerConfig? Resampler { get; init; }

    public bool HasVision => Vision is not null;

    /// <summary>MiniCPM-o's Whisper encoder and audio projection, when the preset has them (HF folders only).</summary>
    public AudioConfig? Audio { get; init; }

    /// <summary>The built-in presets, by name.</summary>
    public static IReadOnlyList<SyntheticModelSpec> Presets { get; } =
    [
        // Small enough for tests and the demo (about 1 M parameters); untied lm_head like MiniCPM-V 2.6.
        Create("tiny", hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, vocab: 4096, tieEmbeddings: false),
        // Qwen2-0.5B's decoder (tied lm_head as in Qwen2-0.5B) with a 32000-id vocabulary: the peer-benchmark model.
        Create("qwen2-0.5b-shape", hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 32000, tieEmbeddings: true),
        // MiniCPM-V 2.6's language model (Qwen2-7B, untied lm_head, vocabulary 151666).
        Create("qwen2-7b-shape", hidden: 3584, layers: 28, heads: 28, kvHeads: 4, intermediate: 18944, vocab: 151666, tieEmbeddings: false),
        // The golden cases' tiny MiniCPM-V: LLM hidden 256 (the resampler needs a multiple of 128), SigLIP 64 wide.
        Create("tiny-v", hidden: 256, layers: 2, heads: 4, kvHeads: 2, intermediate: 512, vocab: 4096, tieEmbeddings: false)
            .WithVision(hidden: 64, layers: 2, heads: 4, intermediate: 128),
        // MiniCPM-V 2.6 itself: Qwen2-7B + SigLIP-400M (27 layers kept) + resampler to 3584 with 64 queries.
        Create("minicpmv-2.6-shape", hidden: 3584, layers: 28, heads: 28, kvHeads: 4, intermediate: 18944, vocab: 151666, tieEmbeddings: false)
            .WithVision(hidden: 1152, layers: 27, heads: 16, intermediate: 4304),
        // MiniCPM-o 2.6 text + audio in miniature: the tiny LLM with a 2-layer Whisper encoder (d_model 64).
        Create("tiny-o", hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, vocab: 4096, tieEmbeddings: false)
            with { Audio = WhisperShape(dModel: 64, layers: 2, heads: 4) },
        // MiniCPM-o 2.6's shapes: Qwen2-7B-shaped LLM (vocabulary 151700) and the Whisper-medium encoder.
        Create("minicpmo-2.6-shape", hidden: 3584, layers: 28, heads: 28, kvHeads: 4, intermediate: 18944, vocab: 151700, tieEmbeddings: false)
            with { Audio = WhisperShape(dModel: 1024, layers: 24, heads: 16) },
    ];

    /// <summary>
    /// This spec with a SigLIP tower (patch 14, 70 × 70 positions, LN eps 1e-6, gelu-tanh, no layer dropped) and a
    /// 64-query resampler from the vision width to the LLM's.
    /// </summary>
    public SyntheticModelSpec WithVision(int hidden, int layers, int heads, int intermediate)
    {
        var vision = new VisionConfig { HiddenSize = hidden, Layers = layers, Heads = heads, IntermediateSize = intermediate };
        var resampler = new ResamplerConfig { EmbedDim = Llm.HiddenSize, KvDim = hidden };
        var problems = new ModelConfig { Family = ModelFamily.MiniCPMV26, Source = Name, Llm = Llm, Vision = vision, Resampler = resampler }.Problems();
        if (problems.Count > 0) throw new ArgumentException($"preset '{Name}': " + string.Join("; ", problems));
        return this with { Vision = vision, Resampler = resampler };
    }

    /// <summary>A MiniCPM-o Whisper encoder: ffn 4·d_model (the projection input is ffn/4), 80 mel bins, 1500 positions.</summary>
    public static AudioConfig WhisperShape(int dModel, int layers, int heads) => new()
    {
        DModel = dModel,
        Layers = layers,
        Heads = heads,
        FfnDim = 4 * dModel,
    };

    /// <summary>The preset called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No preset has that name (the message lists them).</exception>
    public static SyntheticModelSpec Preset(string name) =>
        Presets.FirstOrDefault(p => p.Name == name)
        ?? throw new ArgumentException($"unknown preset '{name}' (presets: {string.Join(", ", Presets.Select(p => p.Name))})", nameof(name));

    /// <summary>
    /// A spec with Qwen2's fixed settings (rope θ 1e6, RMS eps 1e-6, context 32768) and bos = &lt;|endoftext|&gt;,
    /// eos = &lt;|im_end|&gt; at their ids in a vocabulary of <paramref name="vocab"/> (at least 259).
    /// </summary>
    public static SyntheticModelSpec Create(string name, int hidden, int layers, int heads, int kvHeads, int intermediate,
        int vocab, bool tieEmbeddings)
    {
        var (endOfText, _, imEnd) = SyntheticVocabulary.SpecialIds(vocab);
        var llm = new LlmConfig
        {
            HiddenSize = hidden,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads,
            IntermediateSize = intermediate,
            VocabSize = vocab,
            MaxPositions = 32768,
            RopeTheta = 1_000_000.0,
            RmsNormEps = 1e-6,
            TieWordEmbeddings = tieEmbeddings,
            BosTokenId = endOfText,
            EosTokenId = imEnd,
        };
        var problems = llm.Problems().ToList();
        if (problems.Count > 0) throw new ArgumentException($"preset '{name}': " + string.Join("; ", problems));
        return new SyntheticModelSpec(name, llm);
    }
}
