using System.Text;
using MiniCPM.Engine;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Loaders;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// A GPU with too little memory: a model larger than the device is refused before anything is uploaded, with its
/// parts named; a failure halfway through a load (memory or a malformed tensor) leaves the device as it was; a pass
/// whose working buffers are refused leaves the model and its sequences usable. The device's limit
/// (<see cref="GpuDevice.MemoryLimitBytes"/>) stands in for a small GPU on the simulator, each test on its own device.
/// The golden llm checkpoint: BF16, 2 layers, hidden 256, vocabulary 2048.
/// </summary>
public sealed class GpuOutOfMemoryTests
{
    private static string Model => Path.Combine(TestData.GoldenCase("llm"), "model.safetensors");

    [Fact]
    public void AModelLargerThanTheDeviceIsRefusedBeforeAnythingIsUploaded()
    {
        using var device = GpuDevice.Open("cpu");
        device.MemoryLimitBytes = 1 << 20;
        var e = Assert.Throws<GpuOutOfMemoryException>(() => Qwen2GpuModel.Load(Model, device, new Qwen2GpuOptions { KvCacheTokens = 4096 }));
        Assert.IsAssignableFrom<MiniCpmException>(e);
        Assert.Equal("cpu", e.Device);
        Assert.Equal(1 << 20, e.AvailableBytes);
        Assert.Contains("weights 4.3 MiB, KV cache 8.0 MiB for 4096 tokens", e.Message); // 2 × 1.13 MiB of layers, embedding and lm_head 1 MiB each; 2·2·4096·128 floats
        Assert.Contains("--device cpu", e.Message);
        Assert.Null(e.InnerException); // the plan refused it: no allocation was tried
        Assert.Equal(0, device.AllocatedBytes);
    }

    [Fact]
    public void ThePlanIsWhatTheWeightsAndTheCacheTake()
    {
        using var device = GpuDevice.Open("cpu");
        using var checkpoint = Checkpoint.Open(Model);
        var config = checkpoint.Config.Llm!;
        var options = new Qwen2GpuOptions { KvCacheTokens = 1000, KvBlockSize = 16 };
        var plan = Qwen2GpuMemoryPlan.For(checkpoint, config, options);

        using (var weights = Qwen2GpuWeights.Upload(device, checkpoint, config))
            Assert.Equal(plan.WeightBytes, device.AllocatedBytes);
        Assert.Equal(0, device.AllocatedBytes);
        using (var cache = new DeviceKvCache(device, config.Layers, config.KvHeads * config.HeadDim, options.KvBlockSize, options.KvCacheTokens))
        {
            Assert.Equal(1008, plan.KvCacheTokens); // whole blocks
            Assert.Equal(plan.KvCacheBytes, device.AllocatedBytes);
        }
    }

    [Fact]
    public void AFailureAfterThePlanFreesEverythingTheLoadMade()
    {
        using var device = GpuDevice.Open("cpu");
        using (var checkpoint = Checkpoint.Open(Model))
            // Exactly the plan: the weights, cache and RoPE tables fit; the decoder's other buffers (the split-K attention's
            // scratch first) do not.
            device.MemoryLimitBytes = Qwen2GpuMemoryPlan.For(checkpoint, checkpoint.Config.Llm!, new Qwen2GpuOptions()).TotalBytes;
        var e = Assert.Throws<GpuOutOfMemoryException>(() => Qwen2GpuModel.Load(Model, device));
        Assert.IsType<GpuAllocationException>(e.InnerException);
        Assert.Contains("this language model (weights", e.Message);
        Assert.Equal(0, device.AllocatedBytes);

        device.MemoryLimitBytes = null;
        using var model = Qwen2GpuModel.Load(Model, device);
        Assert.True(device.AllocatedBytes > 0);
    }

    [Fact]
    public void AMalformedTensorHalfwayThroughTheUploadLeavesTheDeviceAsItWas()
    {
        // Layer 1's down projection stored as [512, 256] instead of [256, 512]: the same bytes, so the file opens, and
        // the upload refuses it after the embedding-free layer 0 is on the device.
        string folder = Directory.CreateTempSubdirectory("minicpm-malformed-").FullName;
        try
        {
            var bytes = File.ReadAllBytes(Model);
            int headerLength = checked((int)BitConverter.ToUInt64(bytes, 0));
            string header = Encoding.UTF8.GetString(bytes, 8, headerLength);
            int entry = header.IndexOf("\"llm.model.layers.1.mlp.down_proj.weight\"", StringComparison.Ordinal);
            int shape = header.IndexOf("[256,512]", entry, StringComparison.Ordinal);
            Assert.True(entry >= 0 && shape > entry && shape - entry < 120, "the golden header's layout changed");
            Encoding.UTF8.GetBytes("[512,256]").CopyTo(bytes, 8 + shape);
            File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), bytes);
            File.Copy(Path.Combine(TestData.GoldenCase("llm"), "config.json"), Path.Combine(folder, "config.json"));

            using var device = GpuDevice.Open("cpu");
            using var other = device.Upload<float>([1f, 2f, 3f]); // another model's buffer on the same device
            var e = Assert.Throws<ModelFormatException>(() => Qwen2GpuModel.Load(folder, device));
            Assert.Contains("[512, 256]; [256, 512] expected", e.Message);
            Assert.Contains(nameof(Qwen2GpuWeights.Upload), e.StackTrace); // it failed during the upload, not at open
            Assert.Equal(12, device.AllocatedBytes);
            Assert.False(other.IsDisposed);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ARefusedPassLeavesTheModelAndItsSequencesAsTheyWere()
    {
        using var device = GpuDevice.Open("cpu");
        using var model = TinyModel(device, kvCacheTokens: 256);
        var expected = Logits(model, model.CreateSequence(), [1, 2, 3]);

        // Room for a few rows' working buffers, not for a 64-token prompt's.
        device.MemoryLimitBytes = device.AllocatedBytes + 20_000;
        int freeBlocks = model.KvCache.FreeBlocks;
        var big = model.CreateSequence();
        var e = Assert.Throws<GpuOutOfMemoryException>(() => Logits(model, big, Tokens(64)));
        Assert.Contains("the working buffers of a 64-token pass", e.Message);
        Assert.Equal(0, model.SequenceLength(big));
        Assert.Equal(freeBlocks, model.KvCache.FreeBlocks);
        Assert.Contains("the last one was refused", Assert.Throws<InvalidOperationException>(() => model.LastLogits()).Message);

        // The refused pass freed the old working buffers to make room; the next pass makes new ones and computes the same.
        var again = model.CreateSequence();
        Assert.Equal(expected, Logits(model, again, [1, 2, 3]));
        Assert.Equal(3, model.SequenceLength(again));
    }

    /// <summary>A tiny random model (the simulator's launches cost by the group): ~1.9 KB of working buffers per row.</summary>
    private static Qwen2GpuModel TinyModel(GpuDevice device, int kvCacheTokens, int kvBlockSize = 16) =>
        Qwen2GpuModel.Random(device, SyntheticModelSpec.Create("oom", hidden: 64, layers: 1, heads: 2, kvHeads: 1, intermediate: 32,
            vocab: 260, tieEmbeddings: false).Llm with { VocabSize = 16 }, TensorType.Q8_0,
            new Qwen2GpuOptions { KvCacheTokens = kvCacheTokens, KvBlockSize = kvBlockSize });

    private static float[] Logits(Qwen2GpuModel model, SequenceId sequence, int[] tokens)
    {
        var request = new ForwardRequest { Sequence = sequence, Tokens = tokens };
        model.Forward([request]);
        return request.Logits!;
    }

    private static int[] Tokens(int count, int offset = 0) => [.. Enumerable.Range(offset, count).Select(i => i % 16)];

    [Fact]
    public void APassRefusedForCacheRoomOrForItsBlockTablesChangesNothing()
    {
        // One-token blocks; the pass's first block-table buffer has room for 64 entries.
        using var device = GpuDevice.Open("cpu");
        using var model = TinyModel(device, kvCacheTokens: 64, kvBlockSize: 1);
        var prompt = model.CreateSequence();
        Logits(model, prompt, Tokens(20));

        // The cache is checked first: a pass it cannot hold makes no working buffers for its 60 rows.
        long held = device.AllocatedBytes;
        Assert.Throws<KvCacheExhaustedException>(() => Logits(model, model.CreateSequence(), Tokens(60)));
        Assert.Equal(held, device.AllocatedBytes);

        // Four forks of the prompt stepping together: 4 rows (the buffers fit), 84 table entries (a larger table does not).
        float[][] Step(SequenceId[] sequences)
        {
            var requests = sequences.Select((q, i) => new ForwardRequest { Sequence = q, Tokens = new[] { i + 1 } }).ToArray();
            model.Forward(requests);
            return [.. requests.Select(r => r.Logits!)];
        }
        var refused = Enumerable.Range(0, 4).Select(_ => model.ForkSequence(prompt)).ToArray();
        device.MemoryLimitBytes = device.AllocatedBytes + 300; // the 4 logits rows' 256 bytes fit; the larger table does not
        int freeBlocks = model.KvCache.FreeBlocks;
        var e = Assert.Throws<GpuOutOfMemoryException>(() => Step(refused));
        Assert.Contains("the working buffers of a 4-token pass: a buffer of", e.Message);
        Assert.InRange(e.NeededBytes, 4 * 84, 4096); // the batch layout with its 84 table entries, not the logits
        Assert.All(refused, q => Assert.Equal(20, model.SequenceLength(q)));
        Assert.Equal(freeBlocks, model.KvCache.FreeBlocks);

        device.MemoryLimitBytes = null;
        var continued = Step(refused);
        var plain = Enumerable.Range(0, 4).Select(_ => model.ForkSequence(prompt)).ToArray(); // never refused
        Assert.Equal(Step(plain), continued);
    }
}
