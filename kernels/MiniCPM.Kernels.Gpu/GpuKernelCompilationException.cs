namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The CUDA driver refused a kernel's PTX. The message carries the driver's JIT log (which ILGPU's own exception
/// drops), so a report names the instruction and line; <see cref="Ptx"/> is the module that failed.
/// </summary>
public sealed class GpuKernelCompilationException(string kernel, string log, string ptx, Exception inner)
    : Exception($"the CUDA driver could not compile kernel {kernel}: {log}", inner)
{
    public string Kernel { get; } = kernel;
    public string Ptx { get; } = ptx;
}
