using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Cli;

/// <summary>
/// `minicpm quantize` end to end on the synthetic tiny model (GGUF and HF-folder inputs); its byte equality with
/// llama-quantize is shown in MiniCPM.LlamaCpp.Tests. Here: matrices are quantized and everything else is not,
/// general.file_type is llama.cpp's number, and bad requests fail with a message that names the problem.
/// </summary>
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    private string MakeModel(string dtype, string name)
    {
        string path = Path.Combine(_dir, name);
        var (code, _, error) = CliRun.Run("make-model", "--preset", "tiny", "--dtype", dtype, "--out", path);
        Assert.True(code == 0, error);
        return path;
    }

    [Theory]
    [InlineData("q8_0", 7u, TensorType.Q8_0)]
    [InlineData("q4_0", 2u, TensorType.Q4_0)]
    [InlineData("q5_1", 9u, TensorType.Q5_1)]
    public void Quantizes_the_matrices_of_a_gguf_and_keeps_vectors_in_f32(string type, uint fileType, TensorType expected)
    {
        string input = MakeModel("f16", "tiny-f16.gguf"), output = Path.Combine(_dir, $"tiny-{type}.gguf");
        var (code, text, error) = CliRun.Run("quantize", input, output, "--type", type, "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains($"wrote {output}: {type}", text);

        using var file = GgufFile.Open(output);
        Assert.Equal(fileType, file.Require("general.file_type").AsUInt64());
        foreach (var tensor in file.Tensors)
        {
            if (tensor.Shape.Length == 1) Assert.Equal(TensorType.F32, tensor.Type);
            else if (tensor.Name is "token_embd.weight" or "output.weight") Assert.True(tensor.Type.IsQuantized(), tensor.Name);
            else Assert.True(tensor.Type == expected, $"{tensor.Name}: {tensor.Type}");
        }
    }

    [Fact]
    public void Quantizes_an_hf_folder_through_a_temporary_gguf()
    {
        string folder = MakeModel("bf16", "tiny-hf");
        string output = Path.Combine(_dir, "tiny-hf-q8_0.gguf");
        var (code, _, error) = CliRun.Run("quantize", folder, output, "--type", "q8_0");
        Assert.True(code == 0, error);
        using var file = GgufFile.Open(output);
        Assert.Contains(file.Tensors, t => t.Type == TensorType.Q8_0);
        Assert.Empty(Directory.GetFiles(_dir, "*.source.gguf", SearchOption.AllDirectories)); // the temporary is gone
    }

    [Fact]
    public void Refuses_to_requantize_naming_the_tensor()
    {
        string input = MakeModel("f16", "tiny-f16b.gguf"), q8 = Path.Combine(_dir, "q8.gguf");
        Assert.Equal(0, CliRun.Run("quantize", input, q8, "--type", "q8_0").Code);
        var (code, _, error) = CliRun.Run("quantize", q8, Path.Combine(_dir, "q4.gguf"), "--type", "q4_0");
        Assert.Equal(1, code);
        Assert.Contains("is already Q8_0", error);
        Assert.Contains("tensor '", error);
        Assert.False(File.Exists(Path.Combine(_dir, "q4.gguf")));
    }

    [Fact]
    public void Unknown_types_and_missing_arguments_print_the_usage()
    {
        var (code, _, error) = CliRun.Run("quantize", "a.gguf", "b.gguf", "--type", "q7_k");
        Assert.Equal(2, code);
        Assert.Contains("unknown --type 'q7_k'", error);
        Assert.Contains("q4_k_m", error);
        Assert.Equal(2, CliRun.Run("quantize", "a.gguf").Code);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>`minicpm make-model --type q…` writes the quantized model through the same quantizer.</summary>
public sealed class MakeModelQuantizedTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    [Theory]
    [InlineData("q4_k_m")]
    [InlineData("q6_k")]
    [InlineData("q8_0")]
    public void Make_model_accepts_quantized_types(string type)
    {
        string path = Path.Combine(_dir, $"tiny-{type}.gguf");
        var (code, _, error) = CliRun.Run("make-model", "--preset", "tiny", "--type", type, "--out", path);
        Assert.True(code == 0, error);
        using var file = GgufFile.Open(path);
        Assert.Equal(Engine.Conversion.QuantizationScheme.Parse(type).FileType, file.Require("general.file_type").AsUInt64());
        Assert.Contains(file.Tensors, t => t.Type.IsQuantized());
        Assert.False(File.Exists(path + ".f32.tmp"));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
