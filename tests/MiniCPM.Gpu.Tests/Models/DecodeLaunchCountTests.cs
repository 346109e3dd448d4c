using MiniCPM.Engine;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// Kernel launches per forward pass of the GPU decoder, counted by <see cref="MiniCPM.Kernels.Gpu.GpuKernels.Launches"/>
/// (deterministic, so asserted exactly). Per layer: norm, q|k|v (RoPE and the cache write in its epilogue below the
/// tiled matmul's threshold), attention (split-K over chunks + merge for batches of up to 8 rows: 2), o, norm,
/// gate|up, SiLU·mul, down = 9; with int8 activations the norms, SiLU·mul and the attention's merge (head dim 32:
/// whole int8 blocks) quantize what they write, so still 9. Around the layers: embedding gather, final norm
/// (quantizing too when the lm_head reads int8), lm_head = 3. With <see cref="Qwen2GpuModel.FusedNorms"/> on (off by
/// default), int8 decode rows make the norms after o and down in those projections' tails: 7 per layer, and around the
/// layers the embedding, the first layer's attention norm and the lm_head (the final norm in the last down
/// projection's tail) = 3. The int8 case also runs two sequences in one pass against each alone (bit-identical logits:
/// every kernel keeps rows apart); every case runs again with the norms in the tails and with RoPE launched apart
/// (<see cref="Qwen2GpuModel.FusedRope"/> off: one more), bit-identical logits. With
/// <see cref="Qwen2GpuModel.MergedAttention"/> on (off by default) the split-K attention merges in its own tail, and with
/// <see cref="Qwen2GpuModel.FusedSwiGlu"/> on (off by default) the gate|up projection makes SiLU·mul and its int8 blocks
/// in its tail: each one launch fewer per layer (all three tails: 5 per layer), the same logits bit for bit.
/// </summary>
[Collection(Simulator.Name)]
public sealed class DecodeLaunchCountTests(SimulatorDevice simulator)
{
    private const int Layers = 2;

    /// <summary>A tiny shape (the simulator is slow); the vocabulary cut below the synthetic tokenizer's minimum, as no text is made.</summary>
    private static readonly LlmConfig Config = SyntheticModelSpec.Create("launches", hidden: 64, layers: Layers, heads: 2, kvHeads: 1,
        intermediate: 32, vocab: 260, tieEmbeddings: false).Llm with { VocabSize = 16 };

    [Fact]
    public void Int8DecodeBatchAndPrefill()
    {
        // One row (a decode step; its position does not change the launches): 9 per layer + 3. With the norms in the
        // projections' tails (FusedNorms on): 7 per layer + 3; with RoPE launched apart: 10 (8 with the tails). Same
        // logits bit for bit.
        var kernels = simulator.Device.Kernels;
        using var model = Qwen2GpuModel.Random(simulator.Device, Config, TensorType.Q8_0, new Qwen2GpuOptions { Activations = ActivationPrecision.Int8, KvCacheTokens = 512 }); // 16-token blocks: one per sequence made here
        Assert.False(model.FusedNorms);
        var alone = ExpectLaunches(model, [3], 9 * Layers + 3);
        model.FusedNorms = true;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 7 * Layers + 3)));
        model.FusedNorms = false;
        model.FusedRope = false;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 10 * Layers + 3)));
        model.FusedNorms = true;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 8 * Layers + 3)));
        model.FusedRope = true;
        Assert.False(model.MergedAttention);
        model.MergedAttention = true;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 6 * Layers + 3)));
        model.FusedNorms = false;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 8 * Layers + 3)));
        model.MergedAttention = false;
        // SiLU·mul in the gate|up projection's tail (FusedSwiGlu): one fewer per layer; with every tail on, 5 per layer.
        Assert.False(model.FusedSwiGlu);
        model.FusedSwiGlu = true;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 8 * Layers + 3)));
        model.FusedNorms = true;
        model.MergedAttention = true;
        Assert.Equal(Bits(alone), Bits(ExpectLaunches(model, [3], 5 * Layers + 3)));
        model.FusedNorms = false;
        model.MergedAttention = false;
        model.FusedSwiGlu = false;

        // Two sequences' decode steps in one pass: every row wants logits, so the last down projection's tail makes
        // the final norm of both (7 per layer + 3); with the norms launched apart, one final-norm launch per request,
        // each quantizing its row into the lm_head's blocks at its own offset (Int8Blocks.FromToken): 9 per layer + 4.
        // Every kernel treats rows independently, so each row's logits equal, bit for bit, those of the step alone.
        var other = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 7 } };
        model.Forward([other]);
        foreach (var (fusedNorms, merged, swiGlu) in new[] { (true, false, false), (false, false, false), (false, true, false), (false, false, true) })
        {
            model.FusedNorms = fusedNorms;
            model.MergedAttention = merged;
            model.FusedSwiGlu = swiGlu;
            var first = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 3 } };
            var second = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 7 } };
            long before = kernels.Launches;
            model.Forward([first, second]);
            Assert.Equal(fusedNorms ? 7 * Layers + 3 : merged || swiGlu ? 8 * Layers + 4 : 9 * Layers + 4, kernels.Launches - before);
            Assert.Equal(Bits(alone), Bits(first.Logits!));
            Assert.Equal(Bits(other.Logits!), Bits(second.Logits!));
            Assert.NotEqual(first.Logits, second.Logits);
        }
        model.FusedNorms = false;
        model.MergedAttention = false;
        model.FusedSwiGlu = false;

        // Five rows: more than the int8 kernels take, so the layers run the float path (still 9 each: RoPE in the
        // float projection's epilogue); the lm_head reads only the last row, as int8, quantized by the final norm: 9
        // per layer + 3. RoPE launched apart: 10 per layer, the same logits.
        var fused = ExpectLaunches(model, [1, 2, 3, 4, 5], 9 * Layers + 3);
        model.FusedRope = false;
        Assert.Equal(Bits(fused), Bits(ExpectLaunches(model, [1, 2, 3, 4, 5], 10 * Layers + 3)));
    }

    [Fact]
    public void FloatDecode()
    {
        using var model = Qwen2GpuModel.Random(simulator.Device, Config, TensorType.Q8_0, new Qwen2GpuOptions { Activations = ActivationPrecision.Float32, KvCacheTokens = 128 });
        var fused = ExpectLaunches(model, [3], 9 * Layers + 3);
        model.FusedRope = false;
        Assert.Equal(Bits(fused), Bits(ExpectLaunches(model, [3], 10 * Layers + 3)));
        model.FusedRope = true;
        model.MergedAttention = true; // the float merge in the tail
        Assert.Equal(Bits(fused), Bits(ExpectLaunches(model, [3], 8 * Layers + 3)));
    }

    /// <summary>One pass of <paramref name="tokens"/> on a new sequence, which must take <paramref name="launches"/> launches; its logits.</summary>
    private float[] ExpectLaunches(Qwen2GpuModel model, int[] tokens, int launches)
    {
        var kernels = simulator.Device.Kernels;
        long before = kernels.Launches;
        var request = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = tokens };
        model.Forward([request]);
        Assert.Equal(launches, kernels.Launches - before);
        return request.Logits!;
    }

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
}
