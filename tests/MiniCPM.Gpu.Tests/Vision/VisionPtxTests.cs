using System.Reflection;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Vision;

/// <summary>
/// The simulator runs kernels as .NET code, so it cannot tell whether ILGPU's PTX backend accepts them. This compiles
/// the vision kernels to PTX for SM_90 (<see cref="Ptx"/>) — no GPU or driver needed — and checks that
/// nothing lands in local memory (the online-softmax state passed by reference must stay in registers).
/// </summary>
public sealed class VisionPtxTests
{
    [Theory]
    [InlineData(typeof(DenseAttentionKernel), true)]
    [InlineData(typeof(PatchUnfoldKernel), false)]
    [InlineData(typeof(GridPositionKernel), false)]
    public void CompilesToPtxWithoutLocalMemory(Type kernel, bool explicitlyGrouped)
    {
        MethodInfo method = kernel.GetMethod("Kernel")!;
        string ptx = explicitlyGrouped ? Ptx.Grouped(method) : Ptx.Indexed(method);
        Assert.DoesNotContain(".local", ptx);
    }
}
