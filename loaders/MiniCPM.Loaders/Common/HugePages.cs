using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace MiniCPM.Loaders;

/// <summary>madvise(MADV_HUGEPAGE) on Linux: a hint only, so failures are ignored.</summary>
[SupportedOSPlatform("linux")]
internal static unsafe partial class HugePages
{
    private const int MadviseHugePage = 14;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = false)]
    private static partial int Madvise(void* address, nuint length, int advice);

    public static void Advise(void* address, nuint length)
    {
        try
        {
            _ = Madvise(address, length, MadviseHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No libc madvise: regular pages.
        }
    }
}
