using System.Runtime.InteropServices;

namespace MiniCPM.Kernels.Gpu;

/// <summary>The CUDA driver library (libcuda / nvcuda), for the few entry points ILGPU does not wrap; looked up
/// without throwing, so a missing driver or an older one without an entry point is a null pointer, not an exception.</summary>
internal static class CudaLibrary
{
    private static readonly IntPtr Handle = Load();

    private static IntPtr Load()
    {
        foreach (var name in OperatingSystem.IsWindows() ? new[] { "nvcuda.dll" } : ["libcuda.so.1", "libcuda.so"])
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        return IntPtr.Zero;
    }

    /// <summary>The export <paramref name="name"/>, or zero.</summary>
    public static IntPtr Find(string name) =>
        Handle != IntPtr.Zero && NativeLibrary.TryGetExport(Handle, name, out var f) ? f : IntPtr.Zero;
}
