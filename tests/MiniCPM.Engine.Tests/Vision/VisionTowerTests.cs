using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Vision;

/// <summary>
/// The vision tower facade: batches equal slice-by-slice runs, the llama.cpp mmproj GGUF (written by the project's
/// exporter, with every layout trap of the real file) gives the HF checkpoint's outputs, and bad input is refused
/// with typed errors.
/// </summary>
public class VisionTowerTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Multimodal => TestData.GoldenCase("multimodal");

    /// <summary>The vision case's two slices: 448×448 (32×32 patches) and 812×140 (10×58).</summary>
    private static VisionSlice[] GoldenSlices()
    {
        using var golden = GoldenCase.Open(TestData.GoldenCase("vision"));
        return [new(golden.ReadFloats("pixel_values_0"), 448, 448), new(golden.ReadFloats("pixel_values_1"), 140, 812)];
    }

    private static float[] ExpectedImageEmbeds()
    {
        using var golden = GoldenCase.Open(Multimodal);
        return golden.ReadFloats("image_embeds");
    }

    [Fact]
    public void ABatchEqualsSliceBySliceRunsBitForBitInAnyOrder()
    {
        var slices = GoldenSlices();
        using var tower = VisionTower.Load(Multimodal, threads: 2);
        var batch = tower.Embed(slices);
        var reversed = tower.Embed([slices[1], slices[0]]);
        Assert.Equal(2, batch.Length);
        Assert.All(batch, rows => Assert.Equal(64 * 256, rows.Length));
        Assert.Equal(tower.Embed(slices[0]), batch[0]);
        Assert.Equal(tower.Embed(slices[1]), batch[1]);
        Assert.Equal(batch[0], reversed[1]);
        Assert.Equal(batch[1], reversed[0]);
        Assert.NotEqual(batch[0], batch[1]);
    }

    [Fact]
    public void OneThreadAndTwoThreadsAgree()
    {
        var slice = GoldenSlices()[1];
        using var one = VisionTower.Load(Multimodal, threads: 1);
        using var two = VisionTower.Load(Multimodal, threads: 2);
        AssertClose(one.Embed(slice), two.Embed(slice), 1e-6);
    }

    [Fact]
    public void TheSliceMatchesTheReferenceImageEmbeds()
    {
        using var tower = VisionTower.Load(Multimodal);
        AssertClose(tower.Embed(GoldenSlices()[0]), ExpectedImageEmbeds(), 1e-3);
    }

    [Fact]
    public void AnF32MmprojGivesTheHfCheckpointsOutputs()
    {
        // Covers the mmproj traps end to end: legacy fc1/fc2 names, split in_proj, proj stored as projᵀ, the patch
        // kernel's GGUF dims [14, 14, 3, hidden], the generated pos_embed_k the engine does not need.
        string mmproj = Path.Combine(_dir, "mmproj-f32.gguf");
        using (var hf = Checkpoint.Open(Multimodal)) GgufExport.WriteVisionProjector(hf, mmproj, TensorType.F32, minicpmvVersion: 3);
        var slices = GoldenSlices();
        using var fromHf = VisionTower.Load(Multimodal);
        using var fromGguf = VisionTower.Load(mmproj);
        var expected = fromHf.Embed(slices);
        var actual = fromGguf.Embed(slices);
        for (int i = 0; i < slices.Length; i++) AssertClose(actual[i], expected[i], 1e-6);
        AssertClose(actual[0], ExpectedImageEmbeds(), 1e-3);
    }

    [Fact]
    public void ANewStyleMmprojWithUnswappedFfnNamesGivesTheSameOutputs()
    {
        string legacy = Path.Combine(_dir, "legacy.gguf"), modern = Path.Combine(_dir, "modern.gguf");
        using (var hf = Checkpoint.Open(Multimodal)) GgufExport.WriteVisionProjector(hf, legacy, TensorType.F32, minicpmvVersion: 3);
        Rewrite(legacy, modern, name => name.Contains(".ffn_down.") ? name.Replace(".ffn_down.", ".ffn_up.")
                                       : name.Contains(".ffn_up.") ? name.Replace(".ffn_up.", ".ffn_down.") : name);
        using (var file = GgufFile.Open(modern)) Assert.Equal([128L, 64L], file.Find("v.blk.0.ffn_up.weight")!.Shape); // fc1 as ffn_up
        var slice = GoldenSlices()[1];
        using var a = VisionTower.Load(legacy);
        using var b = VisionTower.Load(modern);
        Assert.Equal(a.Embed(slice), b.Embed(slice));
    }

    [Fact]
    public void AnF16MmprojAsLlamaCppShipsItStillMatchesTheReference()
    {
        // F16 holds the BF16 weights' mantissas exactly in its normal range, so the reference tolerance still holds.
        string mmproj = Path.Combine(_dir, "mmproj-f16.gguf");
        using (var hf = Checkpoint.Open(Multimodal)) GgufExport.WriteVisionProjector(hf, mmproj, TensorType.F16, minicpmvVersion: 3);
        using (var file = GgufFile.Open(mmproj))
        {
            Assert.Equal(TensorType.F16, file.Find("v.patch_embd.weight")!.Type);
            Assert.Equal([64L, 3, 14, 14], file.Find("v.patch_embd.weight")!.Shape);
            Assert.Equal(TensorType.F16, file.Find("resampler.proj.weight")!.Type);
        }
        using var tower = VisionTower.Load(mmproj, threads: 2);
        AssertClose(tower.Embed(GoldenSlices()[0]), ExpectedImageEmbeds(), 1e-3);
    }

    [Fact]
    public void TheStoredPosEmbedKIsTheTableTheResamplerComputes()
    {
        // pos_embed_k is [4900, D] with row r·70 + c; the engine builds the table for the slice's grid itself, and
        // the two must agree cell for cell (column half first).
        string mmproj = Path.Combine(_dir, "mmproj.gguf");
        using (var hf = Checkpoint.Open(Multimodal)) GgufExport.WriteVisionProjector(hf, mmproj, TensorType.F32, minicpmvVersion: 3);
        using var tower = VisionTower.Load(mmproj);
        using var file = GgufFile.Open(mmproj);
        var stored = file.Find("resampler.pos_embed_k")!;
        Assert.Equal([4900L, 256], stored.Shape);
        var table = new float[4900 * 256];
        Dequantizer.ToFloat(stored.Type, file.GetData(stored).AsSpan(), table);
        var grid = tower.Resampler.PositionEmbedding(10, 58);
        for (int r = 0; r < 10; r++)
            for (int c = 0; c < 58; c++)
                Assert.True(table.AsSpan((r * 70 + c) * 256, 256).SequenceEqual(grid.AsSpan((r * 58 + c) * 256, 256)), $"cell ({r}, {c})");
        // Column first: moving one column changes dims [0, 128), not [128, 256).
        Assert.True(table.AsSpan(128, 128).SequenceEqual(table.AsSpan(256 + 128, 128)));
        Assert.False(table.AsSpan(0, 128).SequenceEqual(table.AsSpan(256, 128)));
    }

    [Theory]
    [InlineData(448, 450, "multiple of the 14-pixel patch")]
    [InlineData(0, 448, "must be positive")]
    [InlineData(994, 994, "4900")] // 71 × 71 patches: more than the 70 × 70 position grid
    public void BadSliceSizesAreRefusedBeforeAnyWork(int height, int width, string message)
    {
        using var tower = VisionTower.Load(Multimodal);
        var bad = new VisionSlice(new float[3 * Math.Max(height, 0) * width], height, width);
        var good = GoldenSlices()[1];
        var e = Assert.Throws<VisionInputException>(() => tower.Embed([good, bad]));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void APixelBufferOfTheWrongLengthIsRefused()
    {
        using var tower = VisionTower.Load(Multimodal);
        var e = Assert.Throws<VisionInputException>(() => tower.Embed(new VisionSlice(new float[3 * 448 * 447], 448, 448)));
        Assert.Contains("pixel values", e.Message);
    }

    [Fact]
    public void AnElongatedSliceWithMoreThanSeventyColumnsWorks()
    {
        // 14 × 1008 pixels = 1 × 72 patches: the position buckets share rows of the table and the sin-cos key table
        // grows past 70 columns, as in the reference.
        using var tower = VisionTower.Load(Multimodal);
        var pixels = new float[3 * 14 * 1008];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = MathF.Sin(i * 0.37f);
        var rows = tower.Embed(new VisionSlice(pixels, 14, 1008));
        Assert.Equal(64 * 256, rows.Length);
        Assert.All(rows, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ModelsWithoutAVisionTowerRaiseNoVisionTower()
    {
        // A text GGUF has no vision configuration at all.
        string text = Path.Combine(_dir, "text.gguf");
        using (var hf = Checkpoint.Open(TestData.GoldenCase("llm"))) GgufExport.WriteTextModel(hf, text, TensorType.F32);
        Assert.Throws<NoVisionTowerException>(() => VisionTower.Load(text));
        // The llm case's config describes a vision tower, but its file holds only the language model.
        var e = Assert.Throws<NoVisionTowerException>(() => VisionTower.Load(TestData.GoldenCase("llm")));
        Assert.Contains("vpm", e.Message);
        // The resampler case holds the resampler alone.
        using var resamplerOnly = Checkpoint.Open(TestData.GoldenCase("resampler"));
        Assert.Throws<NoVisionTowerException>(() => SiglipEncoder.Load(resamplerOnly));
        Assert.NotNull(Resampler.Load(resamplerOnly));
    }

    private static void AssertClose(float[] actual, float[] expected, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance + tolerance * Math.Abs(expected[i]),
                $"element {i}: {actual[i]} vs {expected[i]}");
    }

    private static void Rewrite(string from, string to, Func<string, string> rename)
    {
        using var source = GgufFile.Open(from);
        var writer = new GgufWriter();
        foreach (var (key, value) in source.Metadata) writer.AddMetadata(key, value);
        foreach (var t in source.Tensors) writer.AddTensor(rename(t.Name), t.Type, t.Shape, source.GetData(t).AsSpan().ToArray());
        writer.WriteTo(to);
    }
}
