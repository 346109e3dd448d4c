using System.Text.RegularExpressions;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Images;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>The 2.6 placeholder text against the reference doc (§1.4, §6.2, §7.2) and the multimodal golden input_ids.</summary>
public sealed partial class ImagePlaceholderLayoutTests
{
    private static readonly SliceConfig Config = new();
    private static readonly ImagePromptOptions Images = ImagePromptOptions.ForImages(Config);

    [Fact]
    public void A_1344_square_is_an_overview_and_nine_slices_640_placeholder_rows_665_tokens()
    {
        var placeholder = ImagePlaceholderLayout.Build(1344, 1344, 0, Config, Images);

        string run = string.Concat(Enumerable.Repeat("<unk>", 64));
        string row = string.Concat(Enumerable.Repeat("<slice>" + run + "</slice>", 3));
        Assert.Equal("<image_id>0</image_id><image>" + run + "</image>" + row + "\n" + row + "\n" + row, placeholder.Text);
        Assert.Equal(640, placeholder.EmbeddingRows);
        Assert.Equal(640, CountOf(placeholder.Text, "<unk>"));
        Assert.Equal(665, Tokens(placeholder.Text).Count);
        Assert.Equal(
            new[] { new ImagePlaceholder.PieceSlot(ImagePieceRole.Overview, 0, 0) }
                .Concat(Enumerable.Range(0, 9).Select(i => new ImagePlaceholder.PieceSlot(ImagePieceRole.Slice, i / 3, i % 3))),
            placeholder.Pieces);
    }

    // Token counts of §1.4 (use_image_id on, single-digit index): 3 + 66 per piece + (rows − 1) newlines.
    [Theory]
    [InlineData(224, 224, 69)]
    [InlineData(300, 200, 69)]
    [InlineData(449, 449, 202)]
    [InlineData(640, 480, 201)]
    [InlineData(700, 100, 69)]
    [InlineData(800, 600, 334)]
    [InlineData(1920, 1080, 598)]
    [InlineData(2000, 500, 333)]
    [InlineData(3024, 4032, 665)]
    public void Token_counts_of_the_worked_examples(int width, int height, int tokens)
    {
        var placeholder = ImagePlaceholderLayout.Build(width, height, 7, Config, Images);
        Assert.Equal(tokens, Tokens(placeholder.Text).Count);
        Assert.Equal(UhdSlicePlanner.Plan(width, height, Config).PieceCount * 64, CountOf(placeholder.Text, "<unk>"));
    }

    [Fact]
    public void Image_ids_count_across_the_sample_and_use_plain_digits()
    {
        var plan = UhdSlicePlanner.Plan(448, 448, Config);
        Assert.StartsWith("<image_id>12</image_id><image><unk>", ImagePlaceholderLayout.Build(plan, 12, Images).Text);
    }

    [Fact]
    public void Video_frames_have_no_image_id_and_the_callers_slice_cap()
    {
        var video = ImagePromptOptions.ForVideoFrames(Config);
        Assert.False(video.UseImageId);
        Assert.Equal(2, video.MaxSliceNums);

        var frame = ImagePlaceholderLayout.Build(1344, 1344, 3, Config, video);
        string run = string.Concat(Enumerable.Repeat("<unk>", 64));
        // max_slice_nums 2 → 1×2 grid: two rows of one slice each.
        Assert.Equal("<image>" + run + "</image><slice>" + run + "</slice>\n<slice>" + run + "</slice>", frame.Text);
        Assert.Equal(3, frame.Pieces.Count);

        var small = ImagePlaceholderLayout.Build(1344, 1344, 0, Config, video with { MaxSliceNums = 1 });
        Assert.Equal("<image>" + run + "</image>", small.Text);
    }

    [Fact]
    public void Slice_mode_off_lays_out_the_overview_only()
    {
        var placeholder = ImagePlaceholderLayout.Build(1344, 1344, 0, Config, Images with { SliceMode = false });
        Assert.Single(placeholder.Pieces);
        Assert.DoesNotContain("<slice>", placeholder.Text);
    }

    [Fact]
    public void Matches_the_multimodal_golden_input_ids_and_image_bound()
    {
        // The golden prompt: <|im_start|> user \n [image placeholder] \n <6 text ids> <|im_end|> \n <|im_start|> assistant \n,
        // with made-up special ids listed in its manifest.
        using var golden = GoldenCase.Open(TestData.GoldenCase("multimodal"));
        var inputIds = golden.ReadInts("input_ids");
        var ids = new Dictionary<string, int>
        {
            ["<image>"] = 2003, ["</image>"] = 2004, ["<slice>"] = 2005, ["</slice>"] = 2006,
            ["<image_id>"] = 2007, ["</image_id>"] = 2008, ["<unk>"] = 2009, ["\n"] = 198, ["0"] = 15,
        };
        using (var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(TestData.GoldenCase("multimodal"), "manifest.json"))))
            foreach (var (token, id) in ids)
                Assert.Equal(id, manifest.RootElement.GetProperty("special_tokens").GetProperty(token).GetInt32());

        var plan = UhdSlicePlanner.Plan(448, 448, Config); // the golden image is the 448×448 slice: one piece
        var placeholder = ImagePlaceholderLayout.Build(plan, 0, Images);
        var placeholderIds = Tokens(placeholder.Text).Select(t => ids[t]).ToArray();

        Assert.Equal(inputIds[3..(3 + placeholderIds.Length)], placeholderIds);
        Assert.Equal(198, inputIds[3 + placeholderIds.Length]); // the "\n" that joins the image tag and the text

        var specials = new SpecialTokenIds(2002, 2000, 2001, 2003, 2004, 2005, 2006, 2007, 2008, 2009);
        var bounds = ImageBounds.Find(inputIds, specials);
        Assert.Equal(golden.ReadInts("image_bound"), bounds.SelectMany(b => new[] { b.Start, b.End }));
        Assert.Equal(placeholder.EmbeddingRows, bounds.Sum(b => b.Length));
    }

    [Fact]
    public void Bounds_of_a_sliced_image_cover_every_piece_in_order()
    {
        var ids = new Dictionary<string, int>
        {
            ["<image>"] = 10, ["</image>"] = 11, ["<slice>"] = 12, ["</slice>"] = 13, ["<image_id>"] = 14, ["</image_id>"] = 15,
            ["<unk>"] = 0, ["\n"] = 1,
        };
        var placeholder = ImagePlaceholderLayout.Build(800, 600, 0, Config, Images);
        var tokens = Tokens(placeholder.Text).Select(t => ids.TryGetValue(t, out var id) ? id : 2).ToArray();

        var bounds = ImageBounds.Find(tokens, new SpecialTokenIds(null, null, null, 10, 11, 12, 13, 14, 15, 0));

        Assert.Equal(placeholder.Pieces.Count, bounds.Count);
        Assert.All(bounds, b => Assert.Equal(64, b.Length));
        Assert.All(bounds, b => Assert.All(tokens[b.Start..b.End], t => Assert.Equal(0, t)));
        Assert.Equal(4, bounds[0].Start);          // after <image_id> 0 </image_id> <image>
    }

    [Fact]
    public void Unpaired_markers_are_a_typed_error()
    {
        var specials = new SpecialTokenIds(null, null, null, 10, 11, 12, 13, null, null, 0);
        Assert.Throws<ImagePlaceholderException>(() => ImageBounds.Find([10, 0, 0], specials));
        Assert.Throws<ImagePlaceholderException>(() => ImageBounds.Find([0, 11], specials));
        Assert.Throws<ImagePlaceholderException>(() => ImageBounds.Find([10, 0, 12, 0, 13], specials));
    }

    /// <summary>Splits placeholder text into its tokens: marker tokens, single digits (Qwen2 splits digits), newlines.</summary>
    private static List<string> Tokens(string text)
    {
        var tokens = TokenPattern().Matches(text).Select(m => m.Value).ToList();
        Assert.Equal(text, string.Concat(tokens)); // nothing else in the text
        return tokens;
    }

    private static int CountOf(string text, string token) => Regex.Matches(text, Regex.Escape(token)).Count;

    [GeneratedRegex(@"</?(image|slice|image_id)>|<unk>|\d|\n")]
    private static partial Regex TokenPattern();
}
