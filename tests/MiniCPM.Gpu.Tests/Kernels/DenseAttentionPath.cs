using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>How <see cref="GpuKernels.DenseAttention"/> runs: the fused kernel, or as products
/// (<see cref="GpuKernels.DenseAttentionAsProducts"/>) on the CUDA-core or the tensor-core tiled kernel.</summary>
public enum DenseAttentionPath
{
    Fused,
    Products,
    ProductsOnTensorCores,
}

internal static class DenseAttentionPaths
{
    public static readonly DenseAttentionPath[] All = Enum.GetValues<DenseAttentionPath>();

    /// <summary>Runs <paramref name="body"/> with the device set to <paramref name="path"/>, and puts both switches back.</summary>
    public static void With(GpuDevice device, DenseAttentionPath path, Action body)
    {
        bool was = device.Kernels.DenseAttentionAsProducts;
        device.Kernels.DenseAttentionAsProducts = path != DenseAttentionPath.Fused;
        try
        {
            TensorCoreSwitch.With(device, path == DenseAttentionPath.ProductsOnTensorCores, body);
        }
        finally { device.Kernels.DenseAttentionAsProducts = was; }
    }
}
