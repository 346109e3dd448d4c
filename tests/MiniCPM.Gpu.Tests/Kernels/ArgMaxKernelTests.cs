using MiniCPM.Engine.Generation;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The device argmax against the engine's own greedy choice on the host (<c>DecodableIds.Mask</c>, then
/// <c>TokenSampler.ArgMax</c>, which throws where the device answers −1): random rows, ties inside a chunk and across
/// chunks, masked ids, a row whose maximum is masked out, NaN and ±∞. Rows of 1100 scores are two chunks of
/// <see cref="ArgMaxKernel.ChunkSize"/>, the second one partial, so both phases reduce more than one candidate.
/// </summary>
[Collection(Simulator.Name)]
public sealed class ArgMaxKernelTests(SimulatorDevice simulator)
{
    private const int Cols = 1100;
    private readonly GpuDevice _device = simulator.Device;

    [Fact]
    public void WithoutAMaskItIsTheHostGreedyChoice()
    {
        var rows = Rows();
        var expected = Expected(rows, mask: null);
        Assert.Equal([700, 1050, 1080, -1, -1], expected[2..]); // the rows built for the rules do what they say
        Assert.Equal(expected, Run(rows, mask: null));
    }

    [Fact]
    public void WithAMaskItIsTheHostGreedyChoiceOverTheAllowedIds()
    {
        var rows = Rows();
        var random = new Random(11);
        // Shorter than the row, as the tokenizer's table may be: the ids past it are never allowed.
        var mask = new bool[Cols - 30];
        for (int i = 0; i < mask.Length; i++) mask[i] = random.NextDouble() < 0.7;
        mask[0] = false; // hides id 0's NaN in the last row
        int top = Array.IndexOf(rows[0], rows[0].Max());
        mask[top] = false; // row 0's maximum masked out: the runner-up wins
        rows[1][Cols - 10] = 1e9f; // past the mask: not allowed either

        var expected = Expected(rows, mask);
        Assert.NotEqual(top, expected[0]);
        Assert.NotEqual(Cols - 10, expected[1]);
        Assert.Equal(expected, Run(rows, mask));
    }

    /// <summary>Random rows, then rows built to hit each rule.</summary>
    private static List<float[]> Rows()
    {
        var rows = new List<float[]> { Check.Random(Cols, 1, scale: 5), Check.Random(Cols, 2, scale: 5) };

        var ties = Check.Random(Cols, 3);
        foreach (int id in new[] { 1090, 1030, 900, 701, 700 }) ties[id] = 7f; // both chunks; the lowest id of the tie: 700
        rows.Add(ties);

        var nan = Check.Random(Cols, 4);
        nan[5] = float.NaN; // NaN is never chosen, whatever sits after it
        nan[1030] = float.NaN;
        nan[1050] = 3f;
        rows.Add(nan);

        var infinite = Check.Random(Cols, 5);
        infinite[1080] = float.PositiveInfinity;
        infinite[1081] = float.PositiveInfinity;
        infinite[10] = float.NegativeInfinity;
        rows.Add(infinite);

        var nothing = new float[Cols];
        Array.Fill(nothing, float.NegativeInfinity);
        nothing[1070] = float.NaN;
        rows.Add(nothing); // every score −∞ or NaN: nothing to choose

        var nanFirst = Check.Random(Cols, 6);
        nanFirst[0] = float.NaN; // the host's scan fails at id 0 (unless the mask hides it)
        rows.Add(nanFirst);
        return rows;
    }

    private static int[] Expected(List<float[]> rows, bool[]? mask) =>
        [.. rows.Select(row =>
        {
            var scores = (float[])row.Clone();
            DecodableIds.Mask(scores, mask);
            try
            {
                return TokenSampler.ArgMax(scores);
            }
            catch (InvalidOperationException)
            {
                return -1;
            }
        })];

    private int[] Run(List<float[]> rows, bool[]? mask)
    {
        using var scores = _device.Upload<float>(rows.SelectMany(r => r).ToArray());
        using var scratch = new ArgMaxScratch(_device, rows.Count, Cols);
        using var chosen = _device.Allocate<int>(rows.Count);
        using var allowed = _device.Upload<uint>(mask is null ? [0u] : Bits(mask));
        _device.Kernels.ArgMax(scores.View, rows.Count, Cols, mask is null ? default : allowed.View, scratch, chosen.View);
        var result = new int[rows.Count];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU(((ILGPU.ArrayView<int>)chosen.View).SubView(0, rows.Count), result.AsSpan());
        return result;
    }

    private static uint[] Bits(bool[] mask)
    {
        var words = new uint[(Cols + 31) / 32];
        for (int id = 0; id < Math.Min(mask.Length, Cols); id++)
            if (mask[id]) words[id >> 5] |= 1u << (id & 31);
        return words;
    }

    [Fact]
    public void ABadShapeIsATypedError()
    {
        using var scores = _device.Allocate<float>(Cols);
        using var scratch = new ArgMaxScratch(_device, 1, Cols);
        using var chosen = _device.Allocate<int>(1);
        using var shortMask = _device.Allocate<uint>(3);
        Assert.Throws<ArgumentException>(() => _device.Kernels.ArgMax(scores.View, 2, Cols, default, scratch, chosen.View));
        Assert.Throws<ArgumentException>(() => _device.Kernels.ArgMax(scores.View, 1, Cols - 1, default, scratch, chosen.View));
        Assert.Throws<ArgumentException>(() => _device.Kernels.ArgMax(scores.View, 1, Cols, shortMask.View, scratch, chosen.View));
    }
}
