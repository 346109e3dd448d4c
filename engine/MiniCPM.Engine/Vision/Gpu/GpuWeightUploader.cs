using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>Host matrices to device matrices: dtype and shape checks, zero padding, same-dtype parts joined.</summary>
internal sealed class GpuWeightUploader(GpuDevice device, string path)
{
    /// <summary>
    /// Parts stacked by rows into one projection (q|k|v) with their biases (null: none); consecutive parts of one
    /// dtype become one device matrix. A single part may be zero-padded to <paramref name="paddedRows"/> rows
    /// and <paramref name="paddedCols"/> columns (0: unpadded).
    /// </summary>
    public FusedLinear Linear(HostMatrix[] parts, float[][]? biases, int paddedRows = 0, int paddedCols = 0)
    {
        int cols = paddedCols > 0 ? paddedCols : parts[0].Cols;
        var matrices = new List<(GpuMatrix, int)>();
        int offset = 0;
        for (int start = 0; start < parts.Length;)
        {
            int end = start + 1;
            while (end < parts.Length && parts[end].Type == parts[start].Type) end++;
            var run = parts[start..end];
            var joined = run.Length == 1 ? run[0]
                : new HostMatrix(run[0].Name, run[0].Type, run.Sum(m => m.Rows), run[0].Cols, run.SelectMany(m => m.Bytes).ToArray());
            int rows = paddedRows > 0 && parts.Length == 1 ? paddedRows : joined.Rows;
            matrices.Add((Matrix(joined, rows, cols), offset));
            offset += rows;
            start = end;
        }
        Buffer? bias = null;
        if (biases is not null)
        {
            var values = new float[offset]; // padding rows get bias 0
            int at = 0;
            for (int i = 0; i < parts.Length; i++)
            {
                biases[i].CopyTo(values, at);
                at += parts[i].Rows;
            }
            bias = device.Upload<float>(values);
        }
        return new FusedLinear(matrices.ToArray(), bias);
    }

    public GpuMatrix Matrix(HostMatrix m) => Matrix(m, m.Rows, m.Cols);

    private GpuMatrix Matrix(HostMatrix m, int rows, int cols)
    {
        if (!GpuMatrix.IsSupported(m.Type)) throw new UnsupportedWeightTypeException(m.Name, m.Type, "GPU");
        if (rows == m.Rows && cols == m.Cols)
        {
            if (GpuMatrix.ShapeProblem(m.Type, cols) is { } problem)
                throw new GpuUnavailableException(device.Name, $"weight '{m.Name}' in {path}: {problem}; use --device cpu");
            return GpuMatrix.Upload(device, m.Type, m.Bytes, rows, cols);
        }
        // Only float rows pad by appending zero values (a quantized row's blocks cannot be split).
        int size = m.Type switch { TensorType.F32 => 4, TensorType.F16 or TensorType.BF16 => 2, _ => 0 };
        if (size == 0 || GpuMatrix.ShapeProblem(m.Type, cols) is not null)
            throw new GpuUnavailableException(device.Name,
                $"weight '{m.Name}' in {path} is {m.Type} with {m.Cols} columns, which the GPU kernels cannot pad to whole 32-column units; use --device cpu");
        var padded = new byte[checked((long)rows * cols * size)];
        for (int r = 0; r < m.Rows; r++)
            m.Bytes.AsSpan(r * m.Cols * size, m.Cols * size).CopyTo(padded.AsSpan(r * cols * size));
        return GpuMatrix.Upload(device, m.Type, padded, rows, cols);
    }
}
