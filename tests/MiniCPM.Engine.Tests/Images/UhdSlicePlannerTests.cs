using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>The slicing geometry against the worked examples of preprocessing-and-prompting.md §1.4.</summary>
public sealed class UhdSlicePlannerTests
{
    private static readonly SliceConfig Default = new();

    // original w×h | overview w×h | grid cols×rows (0 = none) | refine w×h | slice w×h | pieces
    [Theory]
    [InlineData(224, 224, 448, 448, 0, 0, 0, 0, 0, 0, 1)]
    [InlineData(300, 200, 546, 364, 0, 0, 0, 0, 0, 0, 1)]
    [InlineData(448, 448, 448, 448, 0, 0, 0, 0, 0, 0, 1)]
    [InlineData(449, 449, 448, 448, 1, 2, 630, 644, 630, 322, 3)]
    [InlineData(500, 300, 574, 350, 0, 0, 0, 0, 0, 0, 1)]
    [InlineData(640, 480, 518, 392, 2, 1, 728, 546, 364, 546, 3)]
    [InlineData(700, 100, 1176, 168, 0, 0, 0, 0, 0, 0, 1)]
    [InlineData(800, 600, 518, 392, 2, 2, 1036, 784, 518, 392, 5)]
    [InlineData(1000, 1000, 448, 448, 2, 2, 896, 896, 448, 448, 5)]
    [InlineData(1344, 1344, 448, 448, 3, 3, 1344, 1344, 448, 448, 10)]
    [InlineData(1920, 1080, 602, 336, 4, 2, 1680, 952, 420, 476, 9)]
    [InlineData(2000, 500, 896, 224, 4, 1, 1792, 448, 448, 448, 5)]
    [InlineData(3024, 4032, 392, 518, 3, 3, 1176, 1554, 392, 518, 10)]
    [InlineData(4000, 3000, 518, 392, 3, 3, 1554, 1176, 518, 392, 10)]
    public void Worked_examples_of_the_reference(int w, int h, int ow, int oh, int cols, int rows, int rw, int rh, int sw, int sh, int pieces)
    {
        var plan = UhdSlicePlanner.Plan(w, h, Default);

        Assert.Equal((ow, oh), (plan.OverviewWidth, plan.OverviewHeight));
        Assert.Equal(cols == 0 ? null : new SliceGrid(cols, rows), plan.Grid);
        Assert.Equal((rw, rh), (plan.RefineWidth, plan.RefineHeight));
        Assert.Equal((sw, sh), (plan.SliceWidth, plan.SliceHeight));
        Assert.Equal(pieces, plan.PieceCount);
    }

    [Fact]
    public void Ensure_divide_rounds_ties_to_even_like_python()
    {
        Assert.Equal(28, UhdSlicePlanner.EnsureDivide(35, 14));   // 2.5 → 2
        Assert.Equal(56, UhdSlicePlanner.EnsureDivide(49, 14));   // 3.5 → 4
        Assert.Equal(14, UhdSlicePlanner.EnsureDivide(3, 14));    // never below one patch
        Assert.Equal(224, UhdSlicePlanner.EnsureDivide(224.5, 1)); // the doc's example: round(224.5) = 224
    }

    [Fact]
    public void The_first_grid_wins_a_tie()
    {
        // 449² → multiple 2 → candidates {2, 3}: 1×2 and 2×1 are equally far from a square; 1×2 comes first.
        Assert.Equal(new SliceGrid(1, 2), UhdSlicePlanner.BestGrid(449, 449, 9, 448));
    }

    [Fact]
    public void Max_slice_nums_caps_the_grid()
    {
        // Video frames (max 2): only 2-tile grids. omni (max 1): never sliced, one upscaled/downscaled piece.
        Assert.Equal(new SliceGrid(1, 2), UhdSlicePlanner.Plan(1344, 1344, Default, maxSliceNums: 2).Grid);
        Assert.Equal(new SliceGrid(2, 1), UhdSlicePlanner.Plan(1920, 1080, Default, maxSliceNums: 2).Grid);
        var single = UhdSlicePlanner.Plan(1920, 1080, Default, maxSliceNums: 1);
        Assert.Null(single.Grid);
        Assert.Equal((602, 336), (single.OverviewWidth, single.OverviewHeight));
        // Config cap 4: candidates {3, 4}; ln 3 is closer to ln(16/9) = 0.575 than ln 1 is (0.523 vs 0.575).
        Assert.Equal(new SliceGrid(3, 1), UhdSlicePlanner.Plan(1920, 1080, Default with { MaxSliceNums = 4 }).Grid);
    }

    [Fact]
    public void Never_split_and_slice_mode_off_give_one_piece()
    {
        var neverSplit = UhdSlicePlanner.Plan(1344, 1344, Default, neverSplit: true);
        Assert.Equal((448, 448, 1), (neverSplit.OverviewWidth, neverSplit.OverviewHeight, neverSplit.PieceCount));
        var raw = UhdSlicePlanner.Plan(1344, 1344, Default with { SliceMode = false });
        Assert.Equal((1344, 1344, 1), (raw.OverviewWidth, raw.OverviewHeight, raw.PieceCount));
    }

    [Fact]
    public void Bad_sizes_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => UhdSlicePlanner.Plan(0, 10, Default));
        Assert.Throws<ArgumentOutOfRangeException>(() => UhdSlicePlanner.Plan(10, 10, Default, maxSliceNums: 0));
    }
}
