using System.Runtime.InteropServices;
using System.Text.Json;
using MiniCPM.Engine.Configuration;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// Finds the int4 linears of an HF checkpoint — bitsandbytes families (<c>P.weight</c> + <c>P.weight.absmax</c> …)
/// and AutoGPTQ families (<c>P.qweight</c> + <c>P.qzeros</c> …) — and checks every companion tensor's presence, dtype
/// and shape against the others, so a bad file fails at load with the offending tensor named.
/// </summary>
internal sealed class QuantizedFamilies
{
    private const string BnbStatePrefix = ".quant_state.bitsandbytes__";
    private static readonly int[] BnbBlockSizes = [32, 64, 128, 256, 512, 1024, 2048, 4096];

    /// <summary>Main tensor name (the packed codes) → the name a float checkpoint gives the weight, and the family.</summary>
    public Dictionary<string, (string WeightName, QuantizedLinear Linear)> ByMainTensor { get; } = new(StringComparer.Ordinal);

    /// <summary>Every tensor that belongs to a family (main tensors included).</summary>
    public HashSet<string> Members { get; } = new(StringComparer.Ordinal);

    public static QuantizedFamilies Find(ITensorFile file, QuantizationConfig? config)
    {
        var families = new QuantizedFamilies();
        var byName = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var tensor in file.Tensors)
        {
            int state = tensor.Name.IndexOf(BnbStatePrefix, StringComparison.Ordinal);
            if (state > 0) families.Add(ReadBnb(file, byName, tensor.Name[..state], tensor), tensor.Name[..state], tensor.Name[..state]);
            else if (tensor.Name.EndsWith(".qweight", StringComparison.Ordinal))
            {
                string prefix = tensor.Name[..^".qweight".Length];
                families.Add(ReadGptq(file, byName, prefix, config), tensor.Name, prefix + ".weight");
            }
        }
        return families;
    }

    private void Add(QuantizedLinear linear, string mainTensor, string weightName)
    {
        ByMainTensor.Add(mainTensor, (weightName, linear));
        foreach (var t in linear.Tensors) Members.Add(t.Name);
    }

    private static Nf4Linear ReadBnb(ITensorFile file, Dictionary<string, TensorInfo> byName, string weight, TensorInfo stateTensor)
    {
        string path = file.SourcePath;
        string quantType = stateTensor.Name[(stateTensor.Name.IndexOf(BnbStatePrefix, StringComparison.Ordinal) + BnbStatePrefix.Length)..];
        if (quantType != "nf4")
            throw new ModelFormatException(path, $"bitsandbytes quant type '{quantType}' is not supported (only nf4)", stateTensor.Name);

        var state = BnbState.Parse(file, stateTensor);
        if (state.QuantType != "nf4")
            throw new ModelFormatException(path, $"quant state says quant_type '{state.QuantType}'; only nf4 is supported", stateTensor.Name);
        if (Array.IndexOf(BnbBlockSizes, state.BlockSize) < 0)
            throw new ModelFormatException(path, $"block size {state.BlockSize} is not supported (bitsandbytes uses {string.Join(", ", BnbBlockSizes)})", stateTensor.Name);
        int rows = state.Rows, cols = state.Cols;
        long elements = (long)rows * cols;
        long blocks = (elements + state.BlockSize - 1) / state.BlockSize;

        var codes = Require(file, byName, weight, TensorType.U8, (elements + 1) / 2);
        var quantMap = Require(file, byName, weight + ".quant_map", TensorType.F32, 16);
        RequireFinite(file, quantMap);
        bool nested = state.NestedBlockSize is not null || byName.ContainsKey(weight + ".nested_absmax");
        if (!nested)
        {
            var absmax = Require(file, byName, weight + ".absmax", TensorType.F32, blocks);
            RequireFinite(file, absmax);
            return new Nf4Linear(rows, cols, codes, absmax, quantMap, null, null, state.BlockSize, 0, 0, state.DType) { State = stateTensor };
        }
        int nestedBlock = state.NestedBlockSize ?? throw new ModelFormatException(path, "nested absmax present but the quant state has no nested_blocksize", stateTensor.Name);
        if (nestedBlock < 1) throw new ModelFormatException(path, $"nested block size {nestedBlock} is not positive", stateTensor.Name);
        if (!float.IsFinite(state.NestedOffset)) throw new ModelFormatException(path, $"nested_offset {state.NestedOffset} is not finite", stateTensor.Name);
        var absmaxCodes = Require(file, byName, weight + ".absmax", TensorType.U8, blocks);
        var nestedAbsmax = Require(file, byName, weight + ".nested_absmax", TensorType.F32, (blocks + nestedBlock - 1) / nestedBlock);
        var nestedMap = Require(file, byName, weight + ".nested_quant_map", TensorType.F32, 256);
        RequireFinite(file, nestedAbsmax);
        RequireFinite(file, nestedMap);
        return new Nf4Linear(rows, cols, codes, absmaxCodes, quantMap, nestedAbsmax, nestedMap, state.BlockSize, nestedBlock, state.NestedOffset, state.DType)
        {
            State = stateTensor,
        };
    }

    private static GptqLinear ReadGptq(ITensorFile file, Dictionary<string, TensorInfo> byName, string prefix, QuantizationConfig? config)
    {
        string path = file.SourcePath;
        var qweight = byName[prefix + ".qweight"];
        if (config is not { Method: QuantizationMethod.Gptq })
            throw new ModelFormatException(path, "GPTQ tensors in a checkpoint whose config has no GPTQ quantization_config (or quantize_config.json): bits and zero convention unknown", qweight.Name);
        if (qweight.Type != TensorType.I32 || qweight.Shape.Length != 2 || qweight.Shape[0] < 1 || qweight.Shape[1] < 1)
            throw new ModelFormatException(path, $"qweight must be a 2-D I32 tensor [in/8, out]; found {qweight.Type} {qweight.ShapeText}", qweight.Name);
        long inputs = qweight.Shape[0] * 8, outputs = qweight.Shape[1];
        if (outputs % 8 != 0 || inputs > int.MaxValue || outputs > int.MaxValue)
            throw new ModelFormatException(path, $"qweight {qweight.ShapeText}: the output count must be a multiple of 8", qweight.Name);
        var scales = byName.GetValueOrDefault(prefix + ".scales") ?? throw Missing(path, prefix + ".scales", qweight.Name);
        if (scales.Type != TensorType.F16 || scales.Shape.Length != 2 || scales.Shape[1] != outputs || scales.Shape[0] < 1)
            throw new ModelFormatException(path, $"scales must be F16 [groups, {outputs}]; found {scales.Type} {scales.ShapeText}", scales.Name);
        long groups = scales.Shape[0];
        int groupSize = config.GroupSize;
        if (groupSize == 0 || groupSize < -1)
            throw new ModelFormatException(path, $"GPTQ group size {groupSize} is not supported (−1 or a positive size)", qweight.Name);
        long expectedGroups = groupSize == -1 ? 1 : (inputs + groupSize - 1) / groupSize;
        if (groups != expectedGroups)
            throw new ModelFormatException(path, $"scales has {groups} groups; {inputs} inputs in groups of {groupSize} make {expectedGroups}", scales.Name);
        var qzeros = Require(file, byName, prefix + ".qzeros", TensorType.I32, groups * outputs / 8, [groups, outputs / 8]);
        var gIdx = Require(file, byName, prefix + ".g_idx", TensorType.I32, inputs, [inputs]);
        var groupOf = MemoryMarshal.Cast<byte, int>(file.GetData(gIdx).AsSpan());
        for (int i = 0; i < groupOf.Length; i++)
            if ((uint)groupOf[i] >= groups)
                throw new ModelFormatException(path, $"g_idx[{i}] = {groupOf[i]} is outside the {groups} groups", gIdx.Name);
        var halves = MemoryMarshal.Cast<byte, ushort>(file.GetData(scales).AsSpan());
        for (int k = 0; k < halves.Length; k++)
            if ((halves[k] & 0x7C00) == 0x7C00)
                throw new ModelFormatException(path, $"scale {k} is {Fp16.ToFloat(halves[k])}", scales.Name);
        return new GptqLinear((int)outputs, (int)inputs, qweight, qzeros, scales, gIdx, (int)groups, config.ZeroMinusOne ? 1 : 0);
    }

    private static TensorInfo Require(ITensorFile file, Dictionary<string, TensorInfo> byName, string name, TensorType type, long elements, long[]? shape = null)
    {
        var tensor = byName.GetValueOrDefault(name) ?? throw Missing(file.SourcePath, name, name);
        if (tensor.Type != type || tensor.ElementCount != elements || (shape is not null && !tensor.Shape.SequenceEqual(shape)))
            throw new ModelFormatException(file.SourcePath,
                $"expected {type} with {(shape is null ? $"{elements} elements" : "shape [" + string.Join(", ", shape) + "]")}; found {tensor.Type} {tensor.ShapeText}", name);
        return tensor;
    }

    private static ModelFormatException Missing(string path, string name, string forTensor) =>
        new(path, $"quantized weight is missing its companion tensor '{name}'", forTensor);

    private static void RequireFinite(ITensorFile file, TensorInfo tensor)
    {
        var values = MemoryMarshal.Cast<byte, float>(file.GetData(tensor).AsSpan());
        for (int k = 0; k < values.Length; k++)
            if (!float.IsFinite(values[k]))
                throw new ModelFormatException(file.SourcePath, $"value {k} is {values[k]}", tensor.Name);
    }

    /// <summary>The JSON bitsandbytes packs into <c>….quant_state.bitsandbytes__nf4</c> (QuantState.as_dict(packed=True)).</summary>
    private sealed record BnbState(string QuantType, int BlockSize, string DType, int Rows, int Cols, int? NestedBlockSize, float NestedOffset)
    {
        public static BnbState Parse(ITensorFile file, TensorInfo tensor)
        {
            string path = file.SourcePath;
            if (tensor.Type is not (TensorType.U8 or TensorType.I8))
                throw new ModelFormatException(path, $"quant state must be bytes (U8); found {tensor.Type}", tensor.Name);
            try
            {
                using var json = JsonDocument.Parse(file.GetData(tensor).AsSpan().ToArray());
                var root = json.RootElement;
                string quantType = root.GetProperty("quant_type").GetString() ?? "";
                int blockSize = root.GetProperty("blocksize").GetInt32();
                string dtype = root.TryGetProperty("dtype", out var d) ? d.GetString() ?? "" : "";
                var shape = root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                if (shape.Length != 2 || shape[0] < 1 || shape[1] < 1 || shape[0] > int.MaxValue || shape[1] > int.MaxValue)
                    throw new ModelFormatException(path, $"quant state shape [{string.Join(", ", shape)}] is not a 2-D linear weight", tensor.Name);
                int? nestedBlock = root.TryGetProperty("nested_blocksize", out var nb) ? nb.GetInt32() : null;
                float offset = root.TryGetProperty("nested_offset", out var o) ? (float)o.GetDouble() : 0f;
                return new BnbState(quantType, blockSize, dtype, (int)shape[0], (int)shape[1], nestedBlock, offset);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new ModelFormatException(path, $"quant state is not bitsandbytes' JSON: {e.Message}", tensor.Name, inner: e);
            }
        }
    }
}
