using System.Text.Json;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>
/// Whole UHD pieces against Pillow: tests/data/images/slicing.json holds, for procedural images, the geometry and the
/// SHA-256 of every piece that HF's slice_image (re-implemented in the generator, Pillow resizing and cropping) makes.
/// </summary>
public sealed class UhdSlicerTests
{
    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases().GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Pieces_are_byte_identical_to_pillows(int index)
    {
        var c = Cases()[index];
        int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32();
        int maxSlices = c.GetProperty("max_slice_nums").GetInt32();
        var image = ImageFixtures.Pattern(w, h, seed: 1);

        var plan = UhdSlicePlanner.Plan(w, h, new SliceConfig(), maxSlices);
        var pieces = UhdSlicer.Slice(image, plan);

        var grid = c.GetProperty("grid");
        Assert.Equal(grid.ValueKind == JsonValueKind.Null ? null : new SliceGrid(grid[0].GetInt32(), grid[1].GetInt32()), plan.Grid);
        var expected = c.GetProperty("pieces");
        Assert.Equal(expected.GetArrayLength(), pieces.Count);
        for (int i = 0; i < pieces.Count; i++)
        {
            Assert.Equal((expected[i].GetProperty("width").GetInt32(), expected[i].GetProperty("height").GetInt32()), (pieces[i].Width, pieces[i].Height));
            Assert.True(expected[i].GetProperty("sha256").GetString() == ImageFixtures.Sha256(pieces[i].Image),
                $"{w}×{h} (max {maxSlices}): piece {i} ({pieces[i].Role} r{pieces[i].Row} c{pieces[i].Column}) differs from Pillow");
        }
    }

    [Fact]
    public void Tiles_come_row_major_and_tile_the_refined_image()
    {
        var image = ImageFixtures.Pattern(800, 600, seed: 2);
        var pieces = UhdSlicer.Slice(image, new SliceConfig());
        Assert.Equal(
            [(ImagePieceRole.Overview, 0, 0), (ImagePieceRole.Slice, 0, 0), (ImagePieceRole.Slice, 0, 1), (ImagePieceRole.Slice, 1, 0), (ImagePieceRole.Slice, 1, 1)],
            pieces.Select(p => (p.Role, p.Row, p.Column)));

        // Put the tiles back together: they are exactly the refine-size resize of the original.
        var refine = PilBicubicResize.Resize(image, 1036, 784);
        foreach (var tile in pieces.Skip(1))
            Assert.Equal(refine.Crop(tile.Column * 518, tile.Row * 392, 518, 392).Pixels, tile.Image.Pixels);
    }

    [Fact]
    public void A_plan_for_another_size_is_refused()
    {
        var plan = UhdSlicePlanner.Plan(100, 100, new SliceConfig());
        Assert.Throws<ArgumentException>(() => UhdSlicer.Slice(ImageFixtures.Pattern(50, 100, 0), plan));
    }

    private static JsonElement Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ImageFixtures.File("slicing.json")));
        return doc.RootElement.GetProperty("cases").Clone();
    }
}
