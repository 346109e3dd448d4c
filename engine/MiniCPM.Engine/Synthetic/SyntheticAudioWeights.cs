using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;

namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// The Whisper encoder and audio projection of a synthetic MiniCPM-o model (engine names `audio.*`, `audio_proj.*`),
/// with the same value rules as <see cref="SyntheticWeights"/> (matrices std 1/√fan_in — for a conv, fan_in =
/// in·kernel —, norms 1 ± 0.05, biases std 0.1; positions std 0.1), and their MiniCPM-o checkpoint names.
/// </summary>
public static class SyntheticAudioWeights
{
    public static IReadOnlyList<SyntheticTensor> List(AudioConfig audio, int llmHidden)
    {
        long d = audio.DModel, ffn = audio.FfnDim, mel = audio.MelBins, h = llmHidden;
        var list = new List<SyntheticTensor>
        {
            new("audio.conv1.weight", [d, mel, 3], 0, (float)(1 / Math.Sqrt(mel * 3)), true),
            Bias("audio.conv1.bias", d),
            new("audio.conv2.weight", [d, d, 3], 0, (float)(1 / Math.Sqrt(d * 3)), true),
            Bias("audio.conv2.bias", d),
            new("audio.position_embd.weight", [audio.MaxSourcePositions, d], 0, 0.1f, true),
        };
        for (int i = 0; i < audio.Layers; i++)
        {
            list.Add(Matrix(WeightNames.Audio(i, "attn_k.weight"), d, d));
            list.Add(Matrix(WeightNames.Audio(i, "attn_v.weight"), d, d));
            list.Add(Bias(WeightNames.Audio(i, "attn_v.bias"), d));
            list.Add(Matrix(WeightNames.Audio(i, "attn_q.weight"), d, d));
            list.Add(Bias(WeightNames.Audio(i, "attn_q.bias"), d));
            list.Add(Matrix(WeightNames.Audio(i, "attn_out.weight"), d, d));
            list.Add(Bias(WeightNames.Audio(i, "attn_out.bias"), d));
            list.Add(Norm(WeightNames.Audio(i, "ln1.weight"), d));
            list.Add(Bias(WeightNames.Audio(i, "ln1.bias"), d));
            list.Add(Matrix(WeightNames.Audio(i, "ffn_up.weight"), ffn, d));
            list.Add(Bias(WeightNames.Audio(i, "ffn_up.bias"), ffn));
            list.Add(Matrix(WeightNames.Audio(i, "ffn_down.weight"), d, ffn));
            list.Add(Bias(WeightNames.Audio(i, "ffn_down.bias"), d));
            list.Add(Norm(WeightNames.Audio(i, "ln2.weight"), d));
            list.Add(Bias(WeightNames.Audio(i, "ln2.bias"), d));
        }
        list.Add(Norm("audio.post_ln.weight", d));
        list.Add(Bias("audio.post_ln.bias", d));
        list.Add(Matrix("audio_proj.linear1.weight", h, d));
        list.Add(Bias("audio_proj.linear1.bias", h));
        list.Add(Matrix("audio_proj.linear2.weight", h, h));
        list.Add(Bias("audio_proj.linear2.bias", h));
        return list;
    }

    /// <summary>The MiniCPM-o checkpoint name (`apm.*`, `audio_projection_layer.*`) of an audio engine weight.</summary>
    public static string HfName(string engineName)
    {
        var parts = engineName.Split('.');
        string? name = parts switch
        {
            ["audio", "conv1" or "conv2", var p] => $"apm.{parts[1]}.{p}",
            ["audio", "position_embd", "weight"] => "apm.embed_positions.weight",
            ["audio", "post_ln", var p] => $"apm.layer_norm.{p}",
            ["audio_proj", "linear1" or "linear2", var p] => $"audio_projection_layer.{parts[1]}.{p}",
            ["audio", "blk", var i, var module, var p] => module switch
            {
                "attn_q" or "attn_k" or "attn_v" => $"apm.layers.{i}.self_attn.{module[5]}_proj.{p}",
                "attn_out" => $"apm.layers.{i}.self_attn.out_proj.{p}",
                "ln1" => $"apm.layers.{i}.self_attn_layer_norm.{p}",
                "ln2" => $"apm.layers.{i}.final_layer_norm.{p}",
                "ffn_up" => $"apm.layers.{i}.fc1.{p}",
                "ffn_down" => $"apm.layers.{i}.fc2.{p}",
                _ => null,
            },
            _ => null,
        };
        return name ?? throw new ArgumentException($"'{engineName}' is not an audio weight", nameof(engineName));
    }

    private static SyntheticTensor Matrix(string name, long rows, long cols) => new(name, [rows, cols], 0, (float)(1 / Math.Sqrt(cols)), true);

    private static SyntheticTensor Norm(string name, long n) => new(name, [n], 1, 0.05f, false);

    private static SyntheticTensor Bias(string name, long n) => new(name, [n], 0, 0.1f, false);
}
