using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// A linear weight stored not as one tensor but as a quantized family of tensors (an HF int4 checkpoint): the
/// engine weight is still [<see cref="Rows"/> = out, <see cref="Cols"/> = in], and <see cref="Tensors"/> are the file
/// tensors that together encode it. The <see cref="WeightSource"/> of such a weight points at its main tensor (the
/// packed codes) and carries this description in <see cref="WeightSource.Quantized"/>.
/// </summary>
public abstract record QuantizedLinear(int Rows, int Cols)
{
    public abstract IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>One line for `minicpm info`.</summary>
    public abstract string Describe();
}

/// <summary>
/// bitsandbytes 4-bit NF4: <c>P.weight</c> (U8 packed codes), <c>P.weight.absmax</c>, <c>P.weight.quant_map</c> and,
/// when double-quantized, <c>P.weight.nested_absmax</c>, <c>P.weight.nested_quant_map</c>; the scalar settings come
/// from the JSON in <c>P.weight.quant_state.bitsandbytes__nf4</c>.
/// </summary>
public sealed record Nf4Linear(
    int Rows, int Cols, TensorInfo Codes, TensorInfo Absmax, TensorInfo QuantMap,
    TensorInfo? NestedAbsmax, TensorInfo? NestedQuantMap, int BlockSize, int NestedBlockSize, float NestedOffset, string DType)
    : QuantizedLinear(Rows, Cols)
{
    public bool Nested => NestedAbsmax is not null;

    /// <summary>The JSON quant-state tensor (read at load; kept so the family lists all its tensors).</summary>
    public TensorInfo? State { get; init; }

    public override IReadOnlyList<TensorInfo> Tensors =>
        new[] { Codes, Absmax, QuantMap, NestedAbsmax, NestedQuantMap, State }.OfType<TensorInfo>().ToArray();

    public override string Describe() =>
        $"NF4 block {BlockSize}{(Nested ? $", scales 8-bit per {NestedBlockSize}" : ", float32 scales")}, {DType}";
}

/// <summary>GPTQ 4-bit in AutoGPTQ's layout: <c>P.qweight</c>, <c>P.qzeros</c>, <c>P.scales</c>, <c>P.g_idx</c>.</summary>
public sealed record GptqLinear(
    int Rows, int Cols, TensorInfo QWeight, TensorInfo QZeros, TensorInfo Scales, TensorInfo GroupIndex, int Groups, int ZeroOffset)
    : QuantizedLinear(Rows, Cols)
{
    public override IReadOnlyList<TensorInfo> Tensors => [QWeight, QZeros, Scales, GroupIndex];

    public override string Describe() => $"GPTQ 4-bit, groups of {(Cols + Groups - 1) / Groups} inputs, zero offset {ZeroOffset}";
}
