using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// y = W·x (+ b) with W left in the file (memory-mapped, in its stored dtype) and a small float32 bias.
/// This is the one place the decoder multiplies by a weight, so quantized matrices slot in here: it accepts every type
/// <see cref="MatMul"/> handles (the float types and the GGUF block types Q4_0 … Q6_K) and the int4 families of HF int4
/// checkpoints (<see cref="Int4Matrix"/>), and rejects the rest at load time with a typed error.
/// </summary>
internal sealed class Linear
{
    private readonly float[]? _bias;
    private readonly float[]? _ownedValues; // keeps a pinned matrix made by FromValues alive
    private readonly WeightMatrix _matrix;
    private readonly Int4Matrix? _int4;

    private Linear(WeightMatrix matrix, Int4Matrix? int4, float[]? bias, string name, int rows, int cols, float[]? ownedValues = null)
    {
        _matrix = matrix;
        _int4 = int4;
        _bias = bias;
        Name = name;
        _ownedValues = ownedValues;
        Outputs = rows;
        Inputs = cols;
    }

    public string Name { get; }

    /// <summary>The matrix view, or null for the int4 families (which run their own kernels).</summary>
    public WeightMatrix? Matrix => _int4 is null ? _matrix : null;

    public float[]? Bias => _bias;
    public int Inputs { get; }
    public int Outputs { get; }

    /// <summary>Y[t] = W·X[t] (+ b) for <paramref name="tokens"/> rows; one token is a matrix-vector product.</summary>
    public void Apply(ReadOnlySpan<float> x, int tokens, Span<float> y, CpuThreadPool? pool,
        ActivationPrecision activations = ActivationPrecision.Float32)
    {
        if (_int4 is not null) _int4.Multiply(x[..(tokens * Inputs)], tokens, y[..(tokens * Outputs)], _bias, pool);
        else MatMul.Multiply(_matrix, x[..(tokens * Inputs)], tokens, y[..(tokens * Outputs)], _bias, pool, activations);
    }

    /// <summary>A view of <paramref name="weight"/> (rows × cols, [out, in]) over the mapped file bytes.</summary>
    public static Linear Load(ITensorFile file, WeightSource weight, WeightSource? bias, int rows, int cols)
    {
        WeightMatrix matrix = default;
        Int4Matrix? int4 = null;
        if (weight.Quantized is null) matrix = MapMatrix(file, weight, rows, cols);
        else
        {
            CheckShape(file, weight, rows, cols);
            int4 = Int4Matrix.Map(file, weight);
        }
        float[]? biasValues = null;
        if (bias is not null)
        {
            biasValues = WeightReader.ReadAll(file, bias);
            if (biasValues.Length != rows)
                throw new ModelFormatException(file.SourcePath, $"bias '{bias.InternalName}' has {biasValues.Length} values; {rows} expected", bias.Tensor.Name);
        }
        return new Linear(matrix, int4, biasValues, weight.InternalName, rows, cols);
    }

    /// <summary>A layer over a matrix view the caller built (e.g. a convolution kernel seen as [out, in]).</summary>
    public static Linear FromView(WeightMatrix matrix, float[]? bias, string name)
    {
        if (bias is not null && bias.Length != matrix.Rows) throw new ArgumentException($"bias has {bias.Length} values; {matrix.Rows} expected", nameof(bias));
        return new Linear(matrix, null, bias, name, matrix.Rows, matrix.Cols);
    }

    /// <summary>
    /// A float32 matrix the engine computed at load time ([rows, cols], row-major; e.g. a weight whose file layout
    /// had to be transposed), copied into pinned memory the layer owns.
    /// </summary>
    public static unsafe Linear FromValues(ReadOnlySpan<float> values, int rows, int cols, float[]? bias, string name)
    {
        if (values.Length != (long)rows * cols) throw new ArgumentException($"{values.Length} values for a {rows}×{cols} matrix", nameof(values));
        if (bias is not null && bias.Length != rows) throw new ArgumentException($"bias has {bias.Length} values; {rows} expected", nameof(bias));
        var pinned = GC.AllocateUninitializedArray<float>(values.Length, pinned: true);
        values.CopyTo(pinned);
        byte* data = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinned));
        return new Linear(WeightMatrix.Contiguous(TensorType.F32, data, rows, cols), null, bias, name, rows, cols, pinned);
    }

    /// <summary>
    /// The zero-copy matrix view of a weight: the file tensor's bytes from its first row (a weight may be a row range
    /// of a packed tensor), rows × cols in the stored dtype. <paramref name="forMatMul"/> false skips the dtype check
    /// (an embedding table is only gathered, which any type supports).
    /// </summary>
    public static unsafe WeightMatrix MapMatrix(ITensorFile file, WeightSource weight, int rows, int cols, bool forMatMul = true)
    {
        CheckShape(file, weight, rows, cols);
        if (weight.Quantized is not null)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' is an int4 family, which only linear layers can use", weight.Tensor.Name);
        if (weight.Transposed)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' is stored transposed, which the decoder does not read", weight.Tensor.Name);
        if (forMatMul && !IsSupported(weight.Tensor.Type))
            throw new UnsupportedWeightTypeException(weight.InternalName, weight.Tensor.Type, "CPU");
        long rowBytes = WeightReader.RowBytes(weight);
        var bytes = file.GetData(weight.Tensor).Slice(weight.RowStart * rowBytes, weight.RowCount * rowBytes);
        return new WeightMatrix(weight.Tensor.Type, bytes.Pointer, rows, cols, rowBytes);
    }

    private static void CheckShape(ITensorFile file, WeightSource weight, int rows, int cols)
    {
        var shape = weight.Shape;
        if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
            throw new ModelFormatException(file.SourcePath, $"weight '{weight.InternalName}' has shape [{string.Join(", ", shape)}]; [{rows}, {cols}] expected", weight.Tensor.Name);
    }

    public static bool IsSupported(TensorType type) => MatMul.Supports(type);
}
