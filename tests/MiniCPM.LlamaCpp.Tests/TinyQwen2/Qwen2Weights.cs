namespace MiniCPM.LlamaCpp.Tests.TinyQwen2;

/// <summary>One tensor under its llama.cpp GGUF name: shape outermost-first (a matrix is [out, in]) and values row-major.</summary>
internal sealed record NamedTensor(string Name, long[] Shape, float[] Values)
{
    /// <summary>Norm weights and biases: llama.cpp's converter keeps these 1-D tensors in F32 whatever the file type.</summary>
    public bool IsVector => Shape.Length == 1;

    public long ElementCount => Values.LongLength;
}

/// <summary>
/// Random weights of a Qwen2 decoder under llama.cpp's tensor names, in the order llama.cpp's model builder
/// reads them. Matrices are scaled by 1/√in so activations stay of order one; norm weights scatter around 1 and
/// biases are large enough that dropping or misplacing one changes the logits.
/// </summary>
internal sealed class Qwen2Weights
{
    public Qwen2Hyperparameters Config { get; }
    public int VocabSize { get; }
    public IReadOnlyList<NamedTensor> Tensors { get; }

    private readonly Dictionary<string, NamedTensor> _byName;

    private Qwen2Weights(Qwen2Hyperparameters config, int vocabSize, List<NamedTensor> tensors)
    {
        Config = config;
        VocabSize = vocabSize;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public float[] this[string name] => _byName[name].Values;

    public long ElementCount => Tensors.Sum(t => t.ElementCount);

    public static Qwen2Weights Random(Qwen2Hyperparameters c, int vocabSize, int seed)
    {
        var random = new Random(seed);
        var tensors = new List<NamedTensor>();

        void Matrix(string name, int rows, int columns, double gain = 1.0) =>
            tensors.Add(new(name, [rows, columns], Uniform(random, rows * columns, gain * Math.Sqrt(3.0 / columns))));
        void Vector(string name, int length, double center, double spread) =>
            tensors.Add(new(name, [length], Uniform(random, length, spread).Select(v => (float)(center + v)).ToArray()));

        // Embedding rows of unit-ish variance (RMSNorm follows), so the scale is that of a 1-column matrix.
        tensors.Add(new("token_embd.weight", [vocabSize, c.HiddenSize], Uniform(random, vocabSize * c.HiddenSize, Math.Sqrt(3.0))));
        for (int layer = 0; layer < c.LayerCount; layer++)
        {
            string p = $"blk.{layer}.";
            Vector(p + "attn_norm.weight", c.HiddenSize, 1.0, 0.2);
            Matrix(p + "attn_q.weight", c.HiddenSize, c.HiddenSize, gain: 2.0);
            Vector(p + "attn_q.bias", c.HiddenSize, 0.0, 0.5);
            Matrix(p + "attn_k.weight", c.KvWidth, c.HiddenSize, gain: 2.0);
            Vector(p + "attn_k.bias", c.KvWidth, 0.0, 0.5);
            Matrix(p + "attn_v.weight", c.KvWidth, c.HiddenSize);
            Vector(p + "attn_v.bias", c.KvWidth, 0.0, 0.5);
            Matrix(p + "attn_output.weight", c.HiddenSize, c.HiddenSize);
            Vector(p + "ffn_norm.weight", c.HiddenSize, 1.0, 0.2);
            Matrix(p + "ffn_gate.weight", c.IntermediateSize, c.HiddenSize);
            Matrix(p + "ffn_up.weight", c.IntermediateSize, c.HiddenSize);
            Matrix(p + "ffn_down.weight", c.HiddenSize, c.IntermediateSize);
        }
        Vector("output_norm.weight", c.HiddenSize, 1.0, 0.2);
        Matrix("output.weight", vocabSize, c.HiddenSize);
        return new Qwen2Weights(c, vocabSize, tensors);
    }

    /// <summary>The same model with every tensor replaced by <paramref name="map"/> of it (e.g. an encode/decode round trip).</summary>
    public Qwen2Weights Select(Func<NamedTensor, float[]> map) =>
        new(Config, VocabSize, Tensors.Select(t => t with { Values = map(t) }).ToList());

    /// <summary>The same model with tensor <paramref name="name"/> replaced by <paramref name="edit"/> of it, or dropped where that gives null.</summary>
    public Qwen2Weights Edit(string name, Func<NamedTensor, NamedTensor?> edit) =>
        new(Config, VocabSize, Tensors.Select(t => t.Name == name ? edit(t) : t).OfType<NamedTensor>().ToList());

    private static float[] Uniform(Random random, int count, double halfWidth)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * halfWidth);
        return values;
    }
}
