using MiniCPM.Kernels.Formats;
using MiniCPM.LlamaCpp.Tests.LlamaCpp;
using MiniCPM.LlamaCpp.Tests.TinyQwen2;
using Xunit.Abstractions;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>
/// llama.cpp checks what it loads: the same writer with one tensor missing or laid out with its dimensions in the
/// wrong order is refused, and llama.cpp's log names the tensor. So the successful loads in the other tests are
/// evidence, not llama.cpp accepting anything.
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LlamaCppRefusalTests(TinyQwen2Files files, ITestOutputHelper output)
{
    [Fact]
    public void A_missing_tensor_is_refused()
    {
        var error = LoadFailure(files.Weights.Edit("blk.1.ffn_norm.weight", _ => null));

        Assert.Contains("blk.1.ffn_norm.weight", error.Message);
    }

    [Fact]
    public void A_matrix_with_its_dimensions_swapped_is_refused()
    {
        // k_proj is [128 out, 256 in]; written as [256, 128] it has the same bytes but ne0 = 128 instead of 256,
        // which is what a writer that forgot GGUF's innermost-first order would produce.
        var error = LoadFailure(files.Weights.Edit("blk.0.attn_k.weight", t => t with { Shape = [t.Shape[1], t.Shape[0]] }));

        Assert.Contains("blk.0.attn_k.weight", error.Message);
        Assert.Contains("wrong shape", error.Message);
    }

    private Exception LoadFailure(Qwen2Weights weights)
    {
        string path = Path.Combine(Path.GetTempPath(), $"minicpm-llamacpp-refused-{Guid.NewGuid():N}.gguf");
        try
        {
            TinyQwen2Gguf.Write(path, weights, files.Vocabulary, TensorType.F32);
            var error = Assert.ThrowsAny<InvalidOperationException>(() => LlamaCppModel.Load(path).Dispose());
            output.WriteLine(string.Join('\n', error.Message.Split('\n').Where(line => line.Contains("error", StringComparison.OrdinalIgnoreCase) || line.StartsWith("llama.cpp did"))));
            return error;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
