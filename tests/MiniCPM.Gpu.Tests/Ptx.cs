using System.Reflection;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests;

/// <summary>
/// Kernels compiled to PTX for SM_90 with no GPU (<see cref="OfflinePtx"/>). The simulator runs kernels as .NET code,
/// so only this shows that the CUDA backend accepts them and what lands in registers, shared or local memory.
/// </summary>
internal static class Ptx
{
    /// <summary>A kernel launched with an explicit group size (<c>KernelConfig</c>).</summary>
    public static string Grouped(MethodInfo kernel) => Checked(OfflinePtx.Compile(kernel, explicitlyGrouped: true));

    /// <summary>A kernel launched over an index (auto-grouped).</summary>
    public static string Indexed(MethodInfo kernel) => Checked(OfflinePtx.Compile(kernel, explicitlyGrouped: false));

    private static string Checked(string ptx)
    {
        Assert.Contains(".entry", ptx);
        return ptx;
    }
}
