using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Weights;

namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// The vision tower and resampler weights of a synthetic MiniCPM-V, in engine names and orientation (as
/// <see cref="SyntheticWeights"/> does for the LLM), and their MiniCPM-V 2.6 HF form: `vpm.*` names, the resampler's
/// q/k/v packed into in_proj, and `resampler.proj` as the right-multiplied parameter (the engine weight transposed).
/// Linear layers have std 1/√fan_in, norms 1 ± 0.05, biases std 0.1, the position table and queries std 0.1 / 1.
/// </summary>
public static class SyntheticVision
{
    public static IReadOnlyList<SyntheticTensor> List(VisionConfig vision, ResamplerConfig resampler)
    {
        long h = vision.HiddenSize, ffn = vision.IntermediateSize, p = vision.PatchSize, side = vision.PositionGridSide;
        long d = resampler.EmbedDim;
        var list = new List<SyntheticTensor>
        {
            new("vision.patch_embd.weight", [h, 3, p, p], 0, (float)(1 / Math.Sqrt(3 * p * p)), true),
            Bias("vision.patch_embd.bias", h),
            new("vision.position_embd.weight", [side * side, h], 0, 0.1f, true),
        };
        for (int i = 0; i < vision.LayersUsed; i++)
        {
            foreach (var norm in new[] { "ln1", "ln2" })
            {
                list.Add(Norm(WeightNames.Vision(i, $"{norm}.weight"), h));
                list.Add(Bias(WeightNames.Vision(i, $"{norm}.bias"), h));
            }
            foreach (var part in new[] { "attn_q", "attn_k", "attn_v", "attn_out" })
            {
                list.Add(Matrix(WeightNames.Vision(i, $"{part}.weight"), h, h));
                list.Add(Bias(WeightNames.Vision(i, $"{part}.bias"), h));
            }
            list.Add(Matrix(WeightNames.Vision(i, "ffn_up.weight"), ffn, h));
            list.Add(Bias(WeightNames.Vision(i, "ffn_up.bias"), ffn));
            list.Add(Matrix(WeightNames.Vision(i, "ffn_down.weight"), h, ffn));
            list.Add(Bias(WeightNames.Vision(i, "ffn_down.bias"), h));
        }
        list.Add(Norm("vision.post_ln.weight", h));
        list.Add(Bias("vision.post_ln.bias", h));

        list.Add(new("resampler.query", [resampler.Queries, d], 0, 1, false));
        list.Add(Matrix("resampler.kv.weight", d, resampler.KvDim));
        foreach (var part in new[] { "attn_q", "attn_k", "attn_v", "attn_out" })
        {
            list.Add(Matrix($"resampler.{part}.weight", d, d));
            list.Add(Bias($"resampler.{part}.bias", d));
        }
        foreach (var norm in new[] { "ln_q", "ln_kv", "ln_post" })
        {
            list.Add(Norm($"resampler.{norm}.weight", d));
            list.Add(Bias($"resampler.{norm}.bias", d));
        }
        list.Add(Matrix("resampler.proj.weight", d, d));
        return list;
    }

    /// <summary>
    /// The HF checkpoint tensors (name, shape, rows) of the tower, in checkpoint order; the packed and transposed
    /// ones are assembled from the engine tensors.
    /// </summary>
    internal static IEnumerable<(string Name, long[] Shape, FloatRows Rows)> HfTensors(VisionConfig vision, ResamplerConfig resampler, ulong seed)
    {
        var tensors = List(vision, resampler).ToDictionary(t => t.EngineName);
        foreach (var t in tensors.Values)
        {
            if (t.EngineName is "resampler.attn_k.weight" or "resampler.attn_v.weight" or "resampler.attn_k.bias" or "resampler.attn_v.bias") continue;
            if (t.EngineName is "resampler.attn_q.weight" or "resampler.attn_q.bias")
            {
                string suffix = t.EngineName.EndsWith("weight", StringComparison.Ordinal) ? "weight" : "bias";
                var parts = new[] { "q", "k", "v" }.Select(x => tensors[$"resampler.attn_{x}.{suffix}"]).ToArray();
                long[] shape = [.. parts[0].Shape];
                shape[0] *= 3;
                yield return ($"resampler.attn.in_proj_{suffix}", shape, Packed(parts, seed, shape));
                continue;
            }
            if (t.EngineName == "resampler.proj.weight")
            {
                // HF computes x @ proj: the parameter is the engine's [out, in] matrix transposed (made on first read).
                var proj = t;
                float[]? transposed = null;
                long n = t.Shape[0];
                yield return ("resampler.proj", t.Shape, new FloatRows(t.Shape, (first, count, dst) =>
                {
                    transposed ??= Transpose(proj, seed);
                    transposed.AsSpan(checked((int)(first * n)), checked((int)(count * n))).CopyTo(dst);
                }));
                continue;
            }
            yield return (HfName(t.EngineName), t.Shape, SyntheticWeights.Rows(t, seed));
        }
    }

    /// <summary>The MiniCPM-V checkpoint name of an engine vision/resampler weight (not in_proj / proj).</summary>
    public static string HfName(string engineName)
    {
        var parts = engineName.Split('.');
        return parts switch
        {
            ["vision", "patch_embd", var p] => $"vpm.embeddings.patch_embedding.{p}",
            ["vision", "position_embd", "weight"] => "vpm.embeddings.position_embedding.weight",
            ["vision", "post_ln", var p] => $"vpm.post_layernorm.{p}",
            ["vision", "blk", var i, var module, var p] => $"vpm.encoder.layers.{i}." + module switch
            {
                "ln1" => "layer_norm1",
                "ln2" => "layer_norm2",
                "attn_out" => "self_attn.out_proj",
                "ffn_up" => "mlp.fc1",
                "ffn_down" => "mlp.fc2",
                _ when module.StartsWith("attn_", StringComparison.Ordinal) => $"self_attn.{module[5..]}_proj",
                _ => throw new ArgumentException($"'{engineName}' is not a vision weight", nameof(engineName)),
            } + $".{p}",
            ["resampler", "query"] => "resampler.query",
            ["resampler", "kv", "weight"] => "resampler.kv_proj.weight",
            ["resampler", "attn_out", var p] => $"resampler.attn.out_proj.{p}",
            ["resampler", var norm, var p] when norm.StartsWith("ln_", StringComparison.Ordinal) => $"resampler.{norm}.{p}",
            _ => throw new ArgumentException($"'{engineName}' has no plain HF name", nameof(engineName)),
        };
    }

    private static float[] Transpose(SyntheticTensor square, ulong seed)
    {
        int n = checked((int)square.Shape[0]);
        var engine = new float[n * n];
        SyntheticWeights.Fill(square, seed, 0, engine);
        var result = new float[n * n];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
                result[c * n + r] = engine[r * n + c];
        return result;
    }

    /// <summary>q, k and v stacked along rows, generated on demand.</summary>
    private static FloatRows Packed(SyntheticTensor[] parts, ulong seed, long[] shape)
    {
        long partRows = parts[0].Shape[0];
        long rowElements = parts[0].Elements / partRows;
        return new FloatRows(shape, (first, count, dst) =>
        {
            for (long row = first; row < first + count;)
            {
                int part = (int)(row / partRows);
                long inPart = row - part * partRows;
                int rows = (int)Math.Min(first + count - row, partRows - inPart);
                SyntheticWeights.Fill(parts[part], seed, inPart * rowElements,
                    dst.Slice(checked((int)((row - first) * rowElements)), checked((int)(rows * rowElements))));
                row += rows;
            }
        });
    }

    private static SyntheticTensor Matrix(string name, long rows, long cols) => new(name, [rows, cols], 0, (float)(1 / Math.Sqrt(cols)), true);

    private static SyntheticTensor Norm(string name, long n) => new(name, [n], 1, 0.05f, false);

    private static SyntheticTensor Bias(string name, long n) => new(name, [n], 0, 0.1f, false);
}
