using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// y = W·x (+ b) with W left in the file (memory-mapped, in its stored dtype) and a small float32 bias.
/// This is the one place the decoder multiplies by a weight: it accepts every type <see cref="MatMul"/> handles (the
/// float types and the GGUF block types Q4_0 … Q6_K) and rejects the rest at load time with a typed error.
/// </summary>
internal sealed class Linear
{
    private readonly float[]? _bias;

    private Linear(WeightMatrix weight, float[]? bias, string name)
    {
        Weight = weight;
        _bias = bias;
        Name = name;
    }

    public WeightMatrix Weight { get; }
    public string Name { get; }
    public int Inputs => Weight.Cols;
    public int Outputs => Weight.Rows;

    /// <summary>Y[t] = W·X[t] (+ b) for <paramref name="tokens"/> rows; one token is a matrix-vector product.</summary>
    public void Apply(ReadOnlySpan<float> x, int tokens, Span<float> y, CpuThreadPool? pool,
        ActivationPrecision activations = ActivationPrecision.Float32) =>
        MatMul.Multiply(Weight, x[..(tokens * Inputs)], tokens, y[..(tokens * Outputs)], _bias, pool, activations);

    /// <summary>A view of <paramref name="weight"/> (rows × cols, [out, in]) over the mapped file bytes.</summary>
    public static Linear Load(ITensorFile file, WeightSource weight, WeightSource? bias, int rows, int cols)
    {
        var matrix = MapMatrix(file, weight, rows, cols);
        float[]? biasValues = null;
        if (bias is not null)
        {
            biasValues = WeightReader.ReadAll(file, bias);
            if (biasValues.Length != rows)
                throw new ModelFormatException(file.SourcePath, $"bias '{bias.InternalName}' has {biasValues.Length} values; {rows} expected", bias.Tensor.Name);
        }
        return new Linear(matrix, biasValues, weight.InternalName);
    }

    /// <summary>
    /// The zero-copy matrix view of a weight: the file tensor's bytes from its first row (a weight may be a row range
    /// of a packed tensor), rows × cols in the stored dtype. <paramref name="forMatMul"/> false skips the dtype check
    /// (an embedding table is only gathered, which any type supports).
    /// </summary>
    public static unsafe WeightMatrix MapMatrix(ITensorFile file, WeightSource weight, int rows, int cols, bool forMatMul = true)
    {
        var shape = weight.Shape;
        if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' has shape [{string.Join(", ", shape)}]; [{rows}, {cols}] expected", weight.Tensor.Name);
        if (weight.Transposed)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' is stored transposed, which the decoder does not read", weight.Tensor.Name);
        if (forMatMul && !IsSupported(weight.Tensor.Type))
            throw new UnsupportedWeightTypeException(weight.InternalName, weight.Tensor.Type, "CPU");
        long rowBytes = WeightReader.RowBytes(weight);
        var bytes = file.GetData(weight.Tensor).Slice(weight.RowStart * rowBytes, weight.RowCount * rowBytes);
        return new WeightMatrix(weight.Tensor.Type, bytes.Pointer, rows, cols, rowBytes);
    }

    public static bool IsSupported(TensorType type) => MatMul.Supports(type);
}
