using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Tests.Cli;
using MiniCPM.Engine.Vision;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Vision;

/// <summary>
/// The make-model presets with a vision tower: the HF folder (vpm.*, packed in_proj, right-multiplied proj) and the
/// GGUF pair (text model + mmproj) hold the same model, with the real tensor counts at the real shape.
/// </summary>
public sealed class SyntheticVisionModelTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static VisionSlice Slice(int height, int width)
    {
        var pixels = new float[3 * height * width];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = MathF.Sin(i * 0.01f) * 0.9f;
        return new VisionSlice(pixels, height, width);
    }

    [Fact]
    public void TheHfFolderAndTheMmprojGiveTheSameImageRows()
    {
        var spec = SyntheticModelSpec.Preset("tiny-v");
        string folder = Path.Combine(_dir, "hf"), gguf = Path.Combine(_dir, "tiny-v.gguf");
        SyntheticModel.WriteHfFolder(spec, folder, TensorType.F32, seed: 7);
        SyntheticModel.WriteGguf(spec, gguf, TensorType.F32, seed: 7);
        Assert.True(File.Exists(SyntheticModel.MmprojPathFor(gguf)));

        using var fromHf = VisionTower.Load(folder);
        using var fromGguf = VisionTower.Load(SyntheticModel.MmprojPathFor(gguf));
        var slices = new[] { Slice(448, 448), Slice(140, 308) };
        var a = fromHf.Embed(slices);
        var b = fromGguf.Embed(slices);
        for (int i = 0; i < slices.Length; i++)
        {
            Assert.Equal(64 * 256, a[i].Length);
            Assert.Equal(a[i], b[i]);
        }
        // Rows of the LLM's width and order one (the resampler ends in a LayerNorm and a 1/√fan_in projection).
        double rms = Math.Sqrt(a[0].Average(v => (double)v * v));
        Assert.InRange(rms, 0.2, 5);

        // The text model of both files is the same decoder too.
        using var text = Qwen2Model.Load(gguf);
        using var hfText = Qwen2Model.Load(folder);
        Assert.Equal(256, text.Config.HiddenSize);
        Assert.Equal((hfText.Config.Layers, hfText.Config.VocabSize), (text.Config.Layers, text.Config.VocabSize));
    }

    [Fact]
    public void TheRealShapeHasTheRealTensorCounts()
    {
        var spec = SyntheticModelSpec.Preset("minicpmv-2.6-shape");
        var v = spec.Vision!;
        Assert.Equal((1152, 27, 27, 16, 72, 4304, 14, 70), (v.HiddenSize, v.Layers, v.LayersUsed, v.Heads, v.HeadDim, v.IntermediateSize, v.PatchSize, v.PositionGridSide));
        Assert.Equal(3584, spec.Resampler!.EmbedDim);
        Assert.Equal(64, spec.Resampler.Queries);
        // HF: 339 LLM + 437 vpm + 13 resampler (reference checkpoint-formats.md §3); GGUF: 339 + the 455 of the mmproj.
        var hf = SyntheticModel.Plan(spec, TensorType.BF16, SyntheticModelFormat.HfFolder);
        Assert.Equal(789, hf.Count);
        Assert.Equal(437, hf.Count(t => t.Name.StartsWith("vpm.", StringComparison.Ordinal)));
        Assert.Contains(hf, t => t.Name == "resampler.attn.in_proj_weight" && t.Shape.SequenceEqual([10752L, 3584]));
        var gguf = SyntheticModel.Plan(spec, TensorType.F16, SyntheticModelFormat.Gguf);
        Assert.Equal(339 + 455, gguf.Count);
        Assert.Contains(gguf, t => t.Name == "v.blk.26.ffn_down.weight" && t.Shape.SequenceEqual([4304L, 1152]) && t.Type == TensorType.F16);
        Assert.Contains(gguf, t => t.Name == "resampler.pos_embed_k" && t.Type == TensorType.F32);
    }

    [Fact]
    public void MakeModelWritesTheGgufPairAndTheTowerLoads()
    {
        string path = Path.Combine(_dir, "tiny-v.gguf");
        var (code, output, error) = CliRun.Run("make-model", "--preset", "tiny-v", "--dtype", "f16", "--out", path);
        Assert.True(code == 0, error);
        Assert.Contains("mmproj", output);
        using var tower = VisionTower.Load(SyntheticModel.MmprojPathFor(path));
        Assert.Equal(64, tower.Encoder.Config.HiddenSize);
        Assert.Equal(TensorType.F16, ((MiniCPM.Loaders.Gguf.GgufFile)Checkpoint.Open(path).Tensors).Find("blk.0.ffn_up.weight")!.Type);

        var (infoCode, info, _) = CliRun.Run("info", SyntheticModel.MmprojPathFor(path));
        Assert.Equal(0, infoCode);
        Assert.Contains("vision:     SigLIP hidden 64, layers 2 of 2", info);
        Assert.Contains("resampler:  64 queries, 64 → 256", info);
    }

    [Fact]
    public void TextOnlyPresetsHaveNoTower()
    {
        Assert.False(SyntheticModelSpec.Preset("tiny").HasVision);
        Assert.Throws<ArgumentException>(() => SyntheticModel.WriteVisionProjector(SyntheticModelSpec.Preset("tiny"), Path.Combine(_dir, "x.gguf"), TensorType.F32));
    }
}
