using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>Which kernels the products and the dense attention take while one measurement runs: the tiled products on
/// CUDA cores or tensor cores (GpuKernels.TensorCores), the attention fused or as products
/// (GpuKernels.DenseAttentionAsProducts).</summary>
internal readonly record struct KernelPath(bool TensorCores, bool AttentionAsProducts = false)
{
    private static bool HasTensorCores(GpuDevice gpu) => gpu.Kernels.HasTensorCores || gpu.IsSimulator;

    /// <summary>Where the matmuls ran, read after the measurement (a failed probe leaves the CUDA cores).</summary>
    public string MatMuls(GpuDevice gpu) =>
        !TensorCores ? "CUDA cores" : gpu.Kernels.TensorCores ? "tensor cores" : $"CUDA cores (tensor cores off: {gpu.Kernels.TensorCoreFallbackReason})";

    public string Label(GpuDevice gpu) => MatMuls(gpu) + (AttentionAsProducts ? ", attention as products" : ", fused attention");

    /// <summary>The encoders' paths: CUDA cores with the fused attention (the reference for differences), then tensor
    /// cores with each attention where the device has them, else the products on CUDA cores.</summary>
    public static KernelPath[] ForEncoders(GpuDevice gpu) => HasTensorCores(gpu)
        ? [new(false), new(true), new(true, true)]
        : [new(false), new(false, true)];

    /// <summary>The dense attention's paths: fused (the reference), as products on CUDA cores, and on tensor cores
    /// where the device has them.</summary>
    public static KernelPath[] ForAttention(GpuDevice gpu) => HasTensorCores(gpu)
        ? [new(false), new(false, true), new(true, true)]
        : [new(false), new(false, true)];

    /// <summary>The tiled products' paths: CUDA cores (the reference), and tensor cores where the device has them.</summary>
    public static KernelPath[] ForMatMuls(GpuDevice gpu) => HasTensorCores(gpu) ? [new(false), new(true)] : [new(false)];

    /// <summary>Runs <paramref name="measure"/> on this path and puts both switches back (the setter keeps the tensor
    /// cores off after a failed probe).</summary>
    public T Run<T>(GpuDevice gpu, Func<T> measure)
    {
        bool tensorCores = gpu.Kernels.TensorCores, products = gpu.Kernels.DenseAttentionAsProducts;
        try
        {
            gpu.Kernels.TensorCores = TensorCores;
            gpu.Kernels.DenseAttentionAsProducts = AttentionAsProducts;
            return measure();
        }
        finally
        {
            gpu.Kernels.TensorCores = tensorCores;
            gpu.Kernels.DenseAttentionAsProducts = products;
        }
    }
}
