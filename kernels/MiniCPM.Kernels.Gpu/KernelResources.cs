namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// What the CUDA driver gave one compiled kernel (<c>cuFuncGetAttribute</c>): registers and local (spill) bytes per
/// thread, static shared bytes per group. Registers bound how many groups an SM holds at once, and so how many loads a
/// memory-bound kernel keeps in flight: the first thing to read when a kernel's bandwidth moves with no change to its
/// loop.
/// </summary>
public readonly record struct KernelResources(string Kernel, int Registers, int LocalBytes, int SharedBytes)
{
    private const int SharedSizeBytes = 1, LocalSizeBytes = 3, NumRegs = 4; // CU_FUNC_ATTRIBUTE_*

    /// <summary>The driver's attributes of CUDA function <paramref name="function"/>; null without the entry point.</summary>
    internal static unsafe KernelResources? Query(string kernel, IntPtr function)
    {
        IntPtr get = CudaLibrary.Find("cuFuncGetAttribute");
        if (get == IntPtr.Zero) return null;
        var attribute = (delegate* unmanaged<int*, int, IntPtr, int>)get;
        int registers, local, shared;
        if (attribute(&registers, NumRegs, function) != 0 || attribute(&local, LocalSizeBytes, function) != 0
            || attribute(&shared, SharedSizeBytes, function) != 0) return null;
        return new KernelResources(kernel, registers, local, shared);
    }
}
