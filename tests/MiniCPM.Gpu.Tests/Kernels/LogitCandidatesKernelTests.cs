using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The top-k candidate selection against the same selection written plainly on the host (sort the eligible logits,
/// take the K-th, keep everything at or above it less the margin): rows with ties at the threshold, −∞ and NaN logits,
/// ids not allowed and ids penalized; K above the eligible count; the order-preserving float keys themselves.
/// </summary>
[Collection(Simulator.Name)]
public sealed class LogitCandidatesKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(3000, 50, 0, 1)]    // distinct-ish logits, no margin
    [InlineData(3000, 50, 4, 2)]    // a margin of 4 float steps
    [InlineData(2999, 1, 0, 3)]     // K = 1 (greedy with a penalty)
    [InlineData(700, 100, 2, 4)]    // coarse logits (many ties at the threshold)
    [InlineData(300, 400, 0, 5)]    // K above the eligible count: every eligible id
    public void SelectsWhatTheHostSelects(int vocabulary, int k, int margin, int seed)
    {
        var random = new Random(seed);
        var logits = new float[vocabulary];
        var allowed = new bool[vocabulary];
        var eligible = new bool[vocabulary];
        for (int i = 0; i < vocabulary; i++)
        {
            // Coarse values for some seeds so that ties are common; a few −∞, NaN and negative zeros.
            logits[i] = seed == 4 ? random.Next(-20, 20) * 0.5f : (float)(random.NextDouble() * 30 - 15);
            double roll = random.NextDouble();
            if (roll < 0.02) logits[i] = float.NegativeInfinity;
            else if (roll < 0.03) logits[i] = float.NaN;
            else if (roll < 0.04) logits[i] = -0f;
            allowed[i] = random.NextDouble() > 0.1;
            eligible[i] = allowed[i] && random.NextDouble() > 0.05;
        }

        const int capacity = 512, penalizedCapacity = 512;
        var output = Run(logits, allowed, eligible, k, margin, capacity, penalizedCapacity);

        var keys = Enumerable.Range(0, vocabulary).Where(i => eligible[i] && !float.IsNaN(logits[i]))
            .Select(i => LogitCandidatesKernel.Key(logits[i])).OrderByDescending(x => x).ToArray();
        uint low = keys.Length < k || keys[k - 1] <= LogitCandidatesKernel.NegativeInfinityKey + (uint)margin ? 1u : keys[k - 1] - (uint)margin;
        var expectedCandidates = Enumerable.Range(0, vocabulary)
            .Where(i => eligible[i] && !float.IsNaN(logits[i]) && LogitCandidatesKernel.Key(logits[i]) >= low).ToArray();
        var expectedPenalized = Enumerable.Range(0, vocabulary).Where(i => allowed[i] && !eligible[i] && !float.IsNaN(logits[i])).ToArray();
        int nans = Enumerable.Range(0, vocabulary).Count(i => allowed[i] && float.IsNaN(logits[i]));
        Assert.True(expectedCandidates.Length >= Math.Min(k, keys.Length));
        Assert.True(nans > 0 && expectedPenalized.Length > 0);

        Assert.Equal((expectedCandidates.Length, expectedPenalized.Length, nans, (int)low), (output[0], output[1], output[2], output[3]));
        AssertPairs(output, LogitCandidatesKernel.Header, capacity, expectedCandidates, logits);
        AssertPairs(output, LogitCandidatesKernel.Header + 2 * capacity, penalizedCapacity, expectedPenalized, logits);
    }

    [Fact]
    public void CountsBeyondTheCapacityAndWritesOnlyWhatFits()
    {
        var logits = Enumerable.Repeat(1.5f, 600).ToArray(); // all tied: every one is a candidate
        var all = Enumerable.Repeat(true, 600).ToArray();
        var output = Run(logits, all, all, k: 10, margin: 0, capacity: 64, penalizedCapacity: 0);
        Assert.Equal(600, output[0]);
        var ids = output.AsSpan(LogitCandidatesKernel.Header, 64).ToArray();
        Assert.Equal(64, ids.Distinct().Count());
        Assert.All(ids, id => Assert.InRange(id, 0, 599));
    }

    [Fact]
    public void AThresholdAtMinusInfinityLeavesNothingOut()
    {
        // 10 numbers and 290 −∞: the 20th largest is −∞, so every eligible id is a candidate and none is reported left out.
        var logits = Enumerable.Range(0, 300).Select(i => i % 30 == 0 ? i * 0.1f : float.NegativeInfinity).ToArray();
        var all = Enumerable.Repeat(true, 300).ToArray();
        var output = Run(logits, all, all, k: 20, margin: 64, capacity: 512, penalizedCapacity: 0);
        Assert.Equal((300, 1), (output[0], output[3]));
        Assert.Equal(LogitCandidatesKernel.NegativeInfinityKey, LogitCandidatesKernel.Key(float.NegativeInfinity));
    }

    [Fact]
    public void KeysFollowTheFloatOrder()
    {
        float[] ordered = [float.NegativeInfinity, float.MinValue, -1f, -float.Epsilon, -0f, 0f, float.Epsilon, 1f, float.MaxValue, float.PositiveInfinity];
        var keys = ordered.Select(LogitCandidatesKernel.Key).ToArray();
        for (int i = 1; i < keys.Length; i++) Assert.True(keys[i] > keys[i - 1], $"{ordered[i]} not above {ordered[i - 1]}");
        Assert.True(keys[0] > 0); // key 0 stays free for the ids that are not selected
        foreach (var value in ordered) Assert.Equal(BitConverter.SingleToInt32Bits(value), BitConverter.SingleToInt32Bits(LogitCandidatesKernel.Value(LogitCandidatesKernel.Key(value))));
    }

    private int[] Run(float[] logits, bool[] allowed, bool[] eligible, int k, int margin, int capacity, int penalizedCapacity)
    {
        using var row = _device.Upload<float>(logits);
        using var allowedBits = _device.Upload<uint>(Bits(allowed));
        using var eligibleBits = _device.Upload<uint>(Bits(eligible));
        int length = LogitCandidatesKernel.OutputLength(capacity, penalizedCapacity);
        using var output = _device.Upload<int>(Enumerable.Repeat(-7, length).ToArray());
        _device.Kernels.LogitCandidates(new LogitCandidatesArgs
        {
            Logits = row.View, Vocabulary = logits.Length, Allowed = allowedBits.View, Eligible = eligibleBits.View,
            K = k, MarginKeys = margin, Capacity = capacity, PenalizedCapacity = penalizedCapacity, Output = output.View,
        });
        var result = new int[length];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU((ILGPU.ArrayView<int>)output.View, result.AsSpan());
        return result;
    }

    /// <summary>The (id, logit) pairs written at <paramref name="start"/> are exactly <paramref name="expected"/>, in any order.</summary>
    private static void AssertPairs(int[] output, int start, int capacity, int[] expected, float[] logits)
    {
        var ids = output.AsSpan(start, expected.Length).ToArray();
        Assert.Equal(expected, ids.Order().ToArray());
        for (int j = 0; j < expected.Length; j++)
            Assert.Equal(BitConverter.SingleToInt32Bits(logits[ids[j]]), output[start + capacity + j]);
    }

    private static uint[] Bits(bool[] flags)
    {
        var words = new uint[(flags.Length + 31) / 32];
        for (int i = 0; i < flags.Length; i++) if (flags[i]) words[i >> 5] |= 1u << (i & 31);
        return words;
    }
}
