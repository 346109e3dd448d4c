using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Compiles <see cref="GpuKernels"/>' kernels (ILGPU's loaders, same signatures), records what the CUDA driver gave each
/// (<see cref="KernelResources"/>), and turns a PTX the driver refuses into an error that carries the driver's log.
/// </summary>
internal sealed class KernelLoader(Accelerator accelerator)
{
    /// <summary>Runs ILGPU's <paramref name="load"/>; a PTX the CUDA driver refuses is compiled again and JIT-loaded
    /// here to put the driver's log (which ILGPU's exception drops) into a <see cref="GpuKernelCompilationException"/>.</summary>
    private TDelegate Load<TDelegate>(Func<TDelegate> load, MethodInfo method, bool explicitlyGrouped) where TDelegate : Delegate
    {
        try
        {
            var loaded = load();
            Track(loaded.GetKernel(), method);
            return loaded;
        }
        catch (CudaException e) when (accelerator is CudaAccelerator)
        {
            var entry = explicitlyGrouped
                ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
                : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            string ptx = ((PTXCompiledKernel)accelerator.CompileKernel(entry)).PTXAssembly;
            var status = CudaAPI.CurrentAPI.LoadModule(out IntPtr module, ptx, out string? log);
            if (status == CudaError.CUDA_SUCCESS)
            {
                CudaAPI.CurrentAPI.DestroyModule(module);
                throw; // not a compilation failure
            }
            throw new GpuKernelCompilationException(Name(method), string.IsNullOrWhiteSpace(log) ? status.ToString() : log, ptx, e);
        }
    }

    private readonly List<KernelResources> _resources = [];

    /// <summary>The driver's resources of every CUDA kernel compiled here so far.</summary>
    public IReadOnlyList<KernelResources> Resources
    {
        get { lock (_resources) return [.. _resources]; }
    }

    private void Track(Kernel kernel, MethodInfo method)
    {
        if (kernel is not CudaKernel cuda) return;
        if (KernelResources.Query(Name(method), cuda.FunctionPtr) is { } resources)
            lock (_resources) _resources.Add(resources);
    }

    /// <summary>Type.Method&lt;generic arguments&gt;, e.g. Int8MatVecKernel.Kernel&lt;Q4_0Rows, RowPairStore&gt;.</summary>
    private static string Name(MethodInfo method)
    {
        string name = $"{method.DeclaringType?.Name}.{method.Name}";
        return method.IsGenericMethod ? $"{name}<{string.Join(", ", method.GetGenericArguments().Select(t => t.Name))}>" : name;
    }

    public Action<AcceleratorStream, KernelConfig, T1> LoadKernel<T1>(Action<T1> kernel)
        where T1 : struct => Load(() => accelerator.LoadKernel(kernel), kernel.Method, explicitlyGrouped: true);

    public Action<AcceleratorStream, KernelConfig, T1, T2> LoadKernel<T1, T2>(Action<T1, T2> kernel)
        where T1 : struct where T2 : struct => Load(() => accelerator.LoadKernel(kernel), kernel.Method, explicitlyGrouped: true);

    public Action<AcceleratorStream, KernelConfig, T1, T2, T3> LoadKernel<T1, T2, T3>(Action<T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct => Load(() => accelerator.LoadKernel(kernel), kernel.Method, explicitlyGrouped: true);

    public Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5> LoadKernel<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Load(() => accelerator.LoadKernel(kernel), kernel.Method, explicitlyGrouped: true);

    public Action<AcceleratorStream, TIndex, T1> LoadAutoGroupedKernel<TIndex, T1>(Action<TIndex, T1> kernel)
        where TIndex : struct, IIndex where T1 : struct => Load(() => accelerator.LoadAutoGroupedKernel(kernel), kernel.Method, explicitlyGrouped: false);

    public Action<AcceleratorStream, TIndex, T1, T2> LoadAutoGroupedKernel<TIndex, T1, T2>(Action<TIndex, T1, T2> kernel)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct => Load(() => accelerator.LoadAutoGroupedKernel(kernel), kernel.Method, explicitlyGrouped: false);

    public Action<AcceleratorStream, TIndex, T1, T2, T3> LoadAutoGroupedKernel<TIndex, T1, T2, T3>(Action<TIndex, T1, T2, T3> kernel)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct =>
        Load(() => accelerator.LoadAutoGroupedKernel(kernel), kernel.Method, explicitlyGrouped: false);
}
