using System.Runtime.InteropServices;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// Shape-checked access to the vision tower's and resampler's weights in an opened checkpoint: matrices stay
/// memory-mapped in their file dtype (a transposed file layout is undone once, into float32), vectors are read to
/// float32.
/// </summary>
internal sealed class TowerWeights(Checkpoint checkpoint)
{
    private ITensorFile File => checkpoint.Tensors;

    /// <summary>The vision encoder's config, with its weights in the file (<see cref="NoVisionTowerException"/> otherwise):
    /// the check every encoder (CPU and GPU) makes before loading.</summary>
    public static VisionConfig RequireVision(Checkpoint checkpoint)
    {
        var vision = checkpoint.Config.Vision ?? throw new NoVisionTowerException(checkpoint.SourcePath, "the model has no vision tower");
        if (!new TowerWeights(checkpoint).Has("vision.patch_embd.weight"))
            throw new NoVisionTowerException(checkpoint.SourcePath, "the checkpoint holds no vision tower weights (vpm.* / v.*)");
        return vision;
    }

    /// <summary>The resampler's config, with its weights in the file (<see cref="NoVisionTowerException"/> otherwise): the
    /// check every resampler (CPU and GPU) makes before loading.</summary>
    public static ResamplerConfig RequireResampler(Checkpoint checkpoint)
    {
        var resampler = checkpoint.Config.Resampler ?? throw new NoVisionTowerException(checkpoint.SourcePath, "the model has no resampler");
        if (!new TowerWeights(checkpoint).Has("resampler.query"))
            throw new NoVisionTowerException(checkpoint.SourcePath, "the checkpoint holds no resampler weights (resampler.*)");
        return resampler;
    }

    /// <summary>
    /// The checks every tower makes before loading (CPU and GPU alike): both halves (<see cref="RequireVision"/>,
    /// <see cref="RequireResampler"/>) and a resampler that reads the tower's width (<see cref="ModelFormatException"/>).
    /// </summary>
    public static (VisionConfig Vision, ResamplerConfig Resampler) RequireTower(Checkpoint checkpoint)
    {
        var vision = RequireVision(checkpoint);
        var resampler = RequireResampler(checkpoint);
        if (resampler.KvDim != vision.HiddenSize)
            throw new ModelFormatException(checkpoint.SourcePath, $"resampler reads {resampler.KvDim}-wide features; the vision tower makes {vision.HiddenSize}");
        return (vision, resampler);
    }

    public string SourcePath => checkpoint.SourcePath;

    public WeightSource Require(string name) => checkpoint.Weights.Require(name, checkpoint.SourcePath);

    public bool Has(string name) => checkpoint.Weights.Find(name) is not null;

    /// <summary>y = W·x (+ b) with W [rows, cols]; <paramref name="biasName"/> null for none.</summary>
    public Linear Linear(string weightName, string? biasName, int rows, int cols)
    {
        var weight = Require(weightName);
        var bias = biasName is null ? null : Require(biasName);
        if (!weight.Transposed) return Models.Qwen2.Linear.Load(File, weight, bias, rows, cols);
        var shape = weight.Shape;
        if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
            throw new ModelFormatException(SourcePath, $"weight '{weightName}' has shape [{string.Join(", ", shape)}]; [{rows}, {cols}] expected", weight.Tensor.Name);
        return Models.Qwen2.Linear.FromValues(WeightReader.ReadAll(File, weight), rows, cols, bias is null ? null : Vector(biasName!, rows), weightName);
    }

    /// <summary>A 1-D weight (norm, bias) of <paramref name="length"/> values, as float32.</summary>
    public float[] Vector(string name, int length)
    {
        var weight = Require(name);
        var shape = weight.Shape;
        if (shape.Length != 1 || shape[0] != length)
            throw new ModelFormatException(SourcePath, $"weight '{name}' has shape [{string.Join(", ", shape)}]; [{length}] expected", weight.Tensor.Name);
        return WeightReader.ReadAll(File, weight);
    }

    /// <summary>A whole 2-D weight [rows, cols] as float32 (small tables such as the resampler's queries).</summary>
    public float[] Floats(string name, int rows, int cols)
    {
        var weight = Require(name);
        var shape = weight.Shape;
        if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
            throw new ModelFormatException(SourcePath, $"weight '{name}' has shape [{string.Join(", ", shape)}]; [{rows}, {cols}] expected", weight.Tensor.Name);
        return WeightReader.ReadAll(File, weight);
    }

    /// <summary>A lookup table [rows, cols] left mapped in its dtype (rows are gathered, never multiplied).</summary>
    public WeightMatrix Table(string name, int rows, int cols) => Models.Qwen2.Linear.MapMatrix(File, Require(name), rows, cols, forMatMul: false);

    /// <summary>
    /// A convolution kernel [outputs, channels, k, k] as the matrix [outputs, channels·k·k] (rows in (channel, ky, kx)
    /// order, the same bytes in HF and GGUF files) with its bias.
    /// </summary>
    public unsafe Linear Convolution(string weightName, string biasName, int outputs, int channels, int kernel)
    {
        var weight = Require(weightName);
        long[] expected = [outputs, channels, kernel, kernel];
        if (!weight.Shape.SequenceEqual(expected) || weight.Transposed)
            throw new ModelFormatException(SourcePath, $"weight '{weightName}' has shape [{string.Join(", ", weight.Shape)}]; [{string.Join(", ", expected)}] expected", weight.Tensor.Name);
        int cols = channels * kernel * kernel;
        // Viewed as 2-D: the outermost dimension stays, the inner three are one row.
        var bytes = File.GetData(weight.Tensor);
        if (!Models.Qwen2.Linear.IsSupported(weight.Tensor.Type) || weight.Tensor.Type.RowBytes(cols) is not { } rowBytes)
            throw new Errors.UnsupportedWeightTypeException(weightName, weight.Tensor.Type, "CPU");
        var matrix = new WeightMatrix(weight.Tensor.Type, bytes.Pointer, outputs, cols, rowBytes);
        return Models.Qwen2.Linear.FromView(matrix, Vector(biasName, outputs), weightName);
    }

    /// <summary>
    /// A 2-D weight [rows, cols] as a copy of its rows in the file dtype, contiguous (what a device upload takes); a
    /// transposed file layout comes back as float32 [rows, cols], as the CPU reads it.
    /// </summary>
    public unsafe HostMatrix HostRows(string name, int rows, int cols)
    {
        var weight = Require(name);
        if (weight.Transposed)
        {
            var shape = weight.Shape;
            if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
                throw new ModelFormatException(SourcePath, $"weight '{name}' has shape [{string.Join(", ", shape)}]; [{rows}, {cols}] expected", weight.Tensor.Name);
            return new HostMatrix(name, TensorType.F32, rows, cols, MemoryMarshal.AsBytes(WeightReader.ReadAll(File, weight).AsSpan()).ToArray());
        }
        var view = Models.Qwen2.Linear.MapMatrix(File, weight, rows, cols, forMatMul: false);
        var bytes = new byte[checked(view.TotalBytes)];
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<byte>(view.Row(r), checked((int)view.RowBytes)).CopyTo(bytes.AsSpan(checked((int)(r * view.RowBytes))));
        return new HostMatrix(name, view.Type, rows, cols, bytes);
    }

    /// <summary>A convolution kernel [outputs, channels, k, k] as the rows [outputs, channels·k·k] of <see cref="Convolution"/>, copied.</summary>
    public HostMatrix HostConvolution(string name, int outputs, int channels, int kernel) => HostKernelRows(name, [outputs, channels, kernel, kernel]);

    /// <summary>
    /// A convolution kernel of <paramref name="shape"/> [outputs, channels, taps…] (Conv1d's [out, in, k], Conv2d's
    /// [out, in, k, k]) as the matrix [outputs, product of the rest] that multiplies im2col rows, copied in the file dtype.
    /// </summary>
    public HostMatrix HostKernelRows(string name, long[] shape)
    {
        var weight = Require(name);
        if (!weight.Shape.SequenceEqual(shape) || weight.Transposed)
            throw new ModelFormatException(SourcePath, $"weight '{name}' has shape [{string.Join(", ", weight.Shape)}]; [{string.Join(", ", shape)}] expected", weight.Tensor.Name);
        int outputs = checked((int)shape[0]), cols = checked((int)shape.Skip(1).Aggregate(1L, (a, b) => a * b));
        long rowBytes = weight.Tensor.Type.RowBytes(cols)
            ?? throw new UnsupportedWeightTypeException(name, weight.Tensor.Type, "GPU");
        var data = File.GetData(weight.Tensor).AsSpan();
        return new HostMatrix(name, weight.Tensor.Type, outputs, cols, data[..checked((int)(rowBytes * outputs))].ToArray());
    }
}

/// <summary>A weight matrix's rows [Rows, Cols] in host memory, in <see cref="Type"/>'s layout (ggml blocks).</summary>
internal sealed record HostMatrix(string Name, TensorType Type, int Rows, int Cols, byte[] Bytes);
