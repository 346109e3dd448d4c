using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The check a CUDA device's first tensor-core product runs (<see cref="GpuKernels.TensorCores"/>): one product of
/// float32 weights through <see cref="TensorCoreMatMulKernel"/> and through the CUDA-core
/// <see cref="TiledMatMulKernel"/>, which must agree to float32 rounding. A fragment layout the hardware reads
/// differently from <see cref="ITf32Mma"/>'s table, or a driver that refuses the instruction, then costs speed, not
/// wrong answers. The shape has partial row and token tiles and three column units.
/// </summary>
internal static class TensorCoreProbe
{
    private const int Rows = 80, Cols = 96, Tokens = 70;

    /// <summary>Null when the two kernels agree; otherwise why the tensor cores are not used.</summary>
    public static string? Run(GpuKernels kernels, Accelerator accelerator)
    {
        var random = new Random(20261127);
        var weights = new float[Rows * Cols];
        var x = new float[Tokens * Cols];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        try
        {
            using var w = accelerator.Allocate1D(weights);
            using var xs = accelerator.Allocate1D(x);
            using var tensor = accelerator.Allocate1D<float>(Tokens * Rows);
            using var cuda = accelerator.Allocate1D<float>(Tokens * Rows);
            var format = new F32Rows { Words = w.View.AsContiguous().Cast<UInt4>(), WordsPerRow = Cols / 4 };
            kernels.TensorCoreMatMul(Args(format, xs.View.AsContiguous(), tensor.View.AsContiguous()));
            kernels.CudaCoreTiledMatMul(Args(format, xs.View.AsContiguous(), cuda.View.AsContiguous()));
            kernels.Stream.Synchronize();
            return Compare(tensor.GetAsArray1D(), cuda.GetAsArray1D());
        }
        catch (Exception e) when (e is GpuKernelCompilationException or ILGPU.Runtime.Cuda.CudaException or InternalCompilerException)
        {
            return $"the tensor-core kernel did not run: {e.Message}";
        }
    }

    private static MatMulArgs<F32Rows, RowPairStore> Args(F32Rows format, ArrayView<float> x, ArrayView<float> y) => new()
    {
        Weights = format, X = x, Rows = Rows, Cols = Cols, Tokens = Tokens,
        Output = new RowPairStore { Y = y, Bias = y, YStride = Rows, Rows = Rows },
    };

    /// <summary>Sums of 96 products of values in [−1, 1]: float32 orders differ by ~1e-6; a misplaced fragment by ~1.</summary>
    private static string? Compare(float[] tensor, float[] cuda)
    {
        for (int i = 0; i < cuda.Length; i++)
        {
            if (Math.Abs(tensor[i] - cuda[i]) <= 1e-4f) continue;
            return $"the tensor-core product disagreed with the CUDA-core one (token {i / Rows}, row {i % Rows}: {tensor[i]} against {cuda[i]})";
        }
        return null;
    }
}
