using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// ILGPU asks the loader for "cuda" and "OpenCL", which on Linux only find the unversioned libcuda.so and libOpenCL.so:
/// symlinks that come with development packages. A machine with only the driver has libcuda.so.1 or libOpenCL.so.1
/// (a container, or an OpenCL runtime without ocl-icd-opencl-dev), and ILGPU then reports no device at all. This
/// retries those two requests, and only those, with the versioned names after the loader's own search has failed.
/// </summary>
internal static class DriverLibraryFallback
{
    private static int _installed;

    /// <summary>Hooks the fallback into the default load context (once per process; later calls do nothing).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0)
            AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
    }

    /// <summary>The driver's versioned Linux name for a library ILGPU imports, or null for any other library.</summary>
    public static string? VersionedName(string library) => library.ToLowerInvariant() switch
    {
        "cuda" or "libcuda.so" => "libcuda.so.1",
        "opencl" or "libopencl.so" => "libOpenCL.so.1",
        _ => null,
    };

    private static IntPtr Resolve(Assembly assembly, string library)
    {
        if (!OperatingSystem.IsLinux() || assembly != typeof(Context).Assembly) return IntPtr.Zero;
        return VersionedName(library) is { } versioned && NativeLibrary.TryLoad(versioned, out var handle) ? handle : IntPtr.Zero;
    }
}
