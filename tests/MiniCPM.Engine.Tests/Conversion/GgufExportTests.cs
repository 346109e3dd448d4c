using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Engine.Tests.Conversion;

/// <summary>
/// HF checkpoint → llama.cpp GGUF pair → engine weights must give back the HF weights: this checks the exporter, the
/// GGUF name map (including the legacy fc1/fc2 swap and the transposed resampler.proj) and the config reader together.
/// </summary>
public class GgufExportTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void F32ConversionOfTheMultimodalCaseRoundTripsEveryWeightExactly()
    {
        using var hf = Checkpoint.Open(TestData.GoldenCase("multimodal"));
        string text = Path.Combine(_dir, "text.gguf"), mmproj = Path.Combine(_dir, "mmproj.gguf");
        GgufExport.WriteTextModel(hf, text, TensorType.F32);
        GgufExport.WriteVisionProjector(hf, mmproj, TensorType.F32, minicpmvVersion: 3);

        using var textModel = Checkpoint.Open(text);
        using var projector = Checkpoint.Open(mmproj);
        Assert.Equal(ModelFamily.Qwen2, textModel.Config.Family);
        Assert.Equal(ModelFamily.VisionProjector, projector.Config.Family);
        Assert.Equal(hf.Config.Llm, textModel.Config.Llm! with { RmsNormEps = hf.Config.Llm!.RmsNormEps });
        Assert.Equal((float)hf.Config.Llm.RmsNormEps, (float)textModel.Config.Llm!.RmsNormEps);
        Assert.Equal(hf.Config.Vision!.HiddenSize, projector.Config.Vision!.HiddenSize);
        Assert.Equal(hf.Config.Vision.PositionGridSide, projector.Config.Vision.PositionGridSide);
        Assert.Equal(hf.Config.Resampler, projector.Config.Resampler);

        Assert.Empty(textModel.Weights.Unmapped);
        Assert.Empty(projector.Weights.Unmapped);
        int compared = 0;
        foreach (var weight in hf.Weights.Weights)
        {
            var converted = weight.InternalName.StartsWith("llm.", StringComparison.Ordinal) ? textModel : projector;
            var other = converted.Weights.Require(weight.InternalName, converted.SourcePath);
            Assert.Equal(weight.Shape, other.Shape);
            var expected = WeightReader.ReadAll(hf.Tensors, weight);
            var actual = WeightReader.ReadAll(converted.Tensors, other);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{weight.InternalName} differs after conversion");
            compared++;
        }
        Assert.Equal(hf.Weights.Weights.Count, compared);
        // The converter adds the generated position table, and nothing else.
        Assert.Equal(compared - textModel.Weights.Weights.Count + 1, projector.Weights.Weights.Count);
    }

    [Fact]
    public void LegacyFfnNamesAreWrittenAndUndone()
    {
        using var hf = Checkpoint.Open(TestData.GoldenCase("multimodal"));
        string mmproj = Path.Combine(_dir, "mmproj.gguf");
        GgufExport.WriteVisionProjector(hf, mmproj, TensorType.F32, minicpmvVersion: 3);
        using var file = GgufFile.Open(mmproj);
        // fc1 (64 → 128) is stored under the legacy name ffn_down, as in the published MiniCPM-V 2.6 mmproj.
        Assert.Equal([128L, 64L], file.Find("v.blk.0.ffn_down.weight")!.Shape);
        Assert.Equal([64L, 128L], file.Find("v.blk.0.ffn_up.weight")!.Shape);
        using var projector = Checkpoint.Open(mmproj);
        Assert.Equal("v.blk.0.ffn_down.weight", projector.Weights.Require("vision.blk.0.ffn_up.weight", "").Tensor.Name);
        Assert.Equal("v.blk.1.ffn_up.bias", projector.Weights.Require("vision.blk.1.ffn_down.bias", "").Tensor.Name);
    }

    [Fact]
    public void NewStyleFfnNamesMapTheSameWay()
    {
        using var hf = Checkpoint.Open(TestData.GoldenCase("multimodal"));
        string legacy = Path.Combine(_dir, "legacy.gguf"), modern = Path.Combine(_dir, "modern.gguf");
        GgufExport.WriteVisionProjector(hf, legacy, TensorType.F32, minicpmvVersion: 3);
        RewriteWithRenamedTensors(legacy, modern, name => name.Contains(".ffn_down.") ? name.Replace(".ffn_down.", ".ffn_up.")
                                                         : name.Contains(".ffn_up.") ? name.Replace(".ffn_up.", ".ffn_down.") : name);
        using var a = Checkpoint.Open(legacy);
        using var b = Checkpoint.Open(modern);
        foreach (var weight in a.Weights.Weights.Where(w => w.InternalName.Contains("ffn_")))
        {
            var other = b.Weights.Require(weight.InternalName, "");
            Assert.NotEqual(weight.Tensor.Name, other.Tensor.Name);
            Assert.Equal(WeightReader.ReadAll(a.Tensors, weight), WeightReader.ReadAll(b.Tensors, other));
        }
    }

    [Fact]
    public void GeneratedPositionTableMatchesTheReferenceResamplerPositions()
    {
        using var expected = SafetensorsFile.Open(Path.Combine(TestData.GoldenCase("resampler"), "expected.safetensors"));
        var sizes = expected.GetData(expected.Find("tgt_sizes")!).AsSpan();
        for (int slice = 0; slice < 2; slice++)
        {
            int rows = BitConverter.ToInt32(sizes[(slice * 8)..]), cols = BitConverter.ToInt32(sizes[(slice * 8 + 4)..]);
            var reference = new float[rows * cols * 256];
            Dequantizer.ToFloat(TensorType.F32, expected.GetData(expected.Find($"pos_embed_{slice}")!).AsSpan(), reference);
            var table = SinCosPositionTable.Grid(70, 70, 256);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    for (int k = 0; k < 256; k++)
                    {
                        float e = reference[(r * cols + c) * 256 + k], a = table[(r * 70 + c) * 256 + k];
                        Assert.True(Math.Abs(a - e) <= 1e-5 + 1e-5 * Math.Abs(e), $"slice {slice} cell ({r},{c}) dim {k}: {a} vs {e}");
                    }
        }
    }

    [Theory]
    [InlineData(TensorType.F16)]
    [InlineData(TensorType.BF16)]
    [InlineData(TensorType.Q8_0)]
    [InlineData(TensorType.Q4_0)]
    public void QuantizedConversionKeepsWeightsWithinTheTypesError(TensorType type)
    {
        using var hf = Checkpoint.Open(TestData.GoldenCase("llm"));
        string path = Path.Combine(_dir, $"model-{type}.gguf");
        GgufExport.WriteTextModel(hf, path, type);
        using var converted = Checkpoint.Open(path);
        Assert.Equal(GgufExport.FileType(type), ((GgufFile)converted.Tensors).Require("general.file_type", v => (uint)v.AsUInt64()));
        var q = converted.Weights.Require(WeightNames.Llm(0, "attn_q.weight"), path);
        Assert.Equal(type, q.Tensor.Type);
        Assert.Equal(TensorType.F32, converted.Weights.Require(WeightNames.Llm(0, "attn_q.bias"), path).Tensor.Type);
        var expected = WeightReader.ReadAll(hf.Tensors, hf.Weights.Require(q.InternalName, ""));
        var actual = WeightReader.ReadAll(converted.Tensors, q);
        if (type == TensorType.BF16)
        {
            Assert.Equal(expected, actual); // the source is BF16
            return;
        }
        if (type == TensorType.F16)
        {
            // F16 holds BF16's 8-bit mantissa exactly in its normal range; below 2^-14 it rounds to the subnormal grid.
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= Math.Max(Math.Abs(expected[i]) * Math.Pow(2, -11), Math.Pow(2, -25)),
                    $"F16 element {i}: {actual[i]} vs {expected[i]}");
            return;
        }
        // Per 32-element block with scale d = max|x|/qmax: rounding costs half a step (a full step for Q4_0's clamped
        // code), and storing d as F16 costs up to qmax·d·2^-11 more.
        int qmax = type == TensorType.Q8_0 ? 127 : 8;
        double steps = type == TensorType.Q8_0 ? 0.5 : 1.0;
        for (int block = 0; block < expected.Length / 32; block++)
        {
            var e = expected.AsSpan(block * 32, 32);
            double d = MaxAbs(e) / qmax;
            double bound = steps * d + qmax * d / 2048 + 1e-12;
            for (int j = 0; j < 32; j++)
                Assert.True(Math.Abs(actual[block * 32 + j] - e[j]) <= bound,
                    $"{type} element {block * 32 + j}: {actual[block * 32 + j]} vs {e[j]} (bound {bound})");
        }
    }

    private static float MaxAbs(ReadOnlySpan<float> values)
    {
        float m = 0;
        foreach (var v in values) m = Math.Max(m, Math.Abs(v));
        return m;
    }

    private static void RewriteWithRenamedTensors(string from, string to, Func<string, string> rename)
    {
        using var source = GgufFile.Open(from);
        var writer = new GgufWriter();
        foreach (var (key, value) in source.Metadata) writer.AddMetadata(key, value);
        foreach (var t in source.Tensors) writer.AddTensor(rename(t.Name), t.Type, t.Shape, source.GetData(t).AsSpan().ToArray());
        writer.WriteTo(to);
    }
}
