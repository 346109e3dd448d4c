using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>How the encoders' products and attention run, for the vision and audio sections: matmuls on CUDA cores
/// or tensor cores (GpuKernels.TensorCores), attention fused or as products (GpuKernels.DenseAttentionAsProducts).</summary>
internal readonly record struct EncoderPath(bool TensorCores, bool AttentionAsProducts)
{
    public string Label(GpuDevice gpu) =>
        (TensorCores ? gpu.Kernels.TensorCores ? "tensor cores" : $"CUDA cores (tensor cores off: {gpu.Kernels.TensorCoreFallbackReason})" : "CUDA cores")
        + (AttentionAsProducts ? ", attention as products" : ", fused attention");

    /// <summary>CUDA cores with the fused attention (the first, the reference for differences), then tensor cores with
    /// each attention where the device has them, else the products on CUDA cores.</summary>
    public static EncoderPath[] For(GpuDevice gpu) => gpu.Kernels.HasTensorCores || gpu.IsSimulator
        ? [new(false, false), new(true, false), new(true, true)]
        : [new(false, false), new(false, true)];

    /// <summary>Runs <paramref name="measure"/> on this path and puts both switches back (tensor cores stay off after a
    /// failed probe).</summary>
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
