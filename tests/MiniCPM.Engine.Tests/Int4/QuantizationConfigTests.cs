using System.Text;
using MiniCPM.Engine.Configuration;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Int4;

/// <summary>config.json's quantization_config as transformers writes it for bitsandbytes and GPTQ checkpoints.</summary>
public sealed class QuantizationConfigTests
{
    private static ModelConfig Parse(string quantization) => HfConfigReader.Parse(Encoding.UTF8.GetBytes(
        "{\"model_type\": \"qwen2\", \"hidden_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, " +
        "\"num_key_value_heads\": 2, \"intermediate_size\": 128, \"vocab_size\": 32, \"quantization_config\": " + quantization + "}"), "config.json");

    [Fact]
    public void ReadsGptqInsideConfigJson()
    {
        var q = Parse("{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 64, \"desc_act\": true, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}").Quantization!;
        Assert.Equal(QuantizationMethod.Gptq, q.Method);
        Assert.Equal(64, q.GroupSize);
        Assert.True(q.DescAct);
        Assert.False(q.Symmetric);
        Assert.False(q.ZeroMinusOne);
    }

    [Fact]
    public void GptqDefaultsToTheOldZeroMinusOneFormat() =>
        Assert.True(Parse("{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128}").Quantization!.ZeroMinusOne);

    [Fact]
    public void ReadsBitsandbytesNf4() =>
        Assert.Equal("bitsandbytes 4-bit nf4, double-quantized scales",
            Parse("{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"nf4\", \"bnb_4bit_use_double_quant\": true}").Quantization!.Describe());

    [Theory]
    [InlineData("{\"quant_method\": \"bitsandbytes\", \"load_in_8bit\": true}", "8-bit")]
    [InlineData("{\"quant_method\": \"awq\", \"bits\": 4}", "awq")]
    [InlineData("{\"quant_method\": \"gptq\", \"bits\": 3}", "3 bits")]
    public void RejectsWhatItCannotRead(string quantization, string expected) =>
        Assert.Contains(expected, Assert.Throws<ModelFormatException>(() => Parse(quantization)).Message);
}
