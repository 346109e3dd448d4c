using System.Reflection;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Vision;

/// <summary>
/// The simulator runs kernels as .NET code, so it cannot tell whether ILGPU's PTX backend accepts them. This compiles
/// the vision tower's kernels to PTX for SM_90 (<see cref="Ptx"/>) — no GPU or driver needed — and checks that
/// nothing lands in local memory (the online-softmax state passed by reference must stay in registers) and that no
/// instruction form appears that the driver's JIT rejects: on an H200 ILGPU's fast-math <c>tanh.approx.ftz.f32</c>
/// (PTX has only <c>tanh.approx.f32</c>) failed the whole GELU module, which this simulator-only suite had not seen.
/// </summary>
public sealed class VisionPtxTests
{
    [Theory]
    [InlineData(typeof(DenseAttentionKernel), nameof(DenseAttentionKernel.Kernel), true)]
    [InlineData(typeof(PatchUnfoldKernel), nameof(PatchUnfoldKernel.Kernel), false)]
    [InlineData(typeof(GridPositionKernel), nameof(GridPositionKernel.Kernel), false)]
    [InlineData(typeof(NormKernels), nameof(NormKernels.LayerNorm), true)]
    [InlineData(typeof(ElementwiseKernels), nameof(ElementwiseKernels.GeluTanh), false)]
    [InlineData(typeof(SoftmaxKernel), nameof(SoftmaxKernel.Kernel), true)]
    [InlineData(typeof(AttentionProducts), nameof(AttentionProducts.Pack), false)]
    [InlineData(typeof(AttentionProducts), nameof(AttentionProducts.Softmax), true)]
    public void CompilesToPtxTheDriverAccepts(Type kernel, string name, bool explicitlyGrouped)
    {
        MethodInfo method = kernel.GetMethod(name)!;
        string ptx = explicitlyGrouped ? Ptx.Grouped(method) : Ptx.Indexed(method);
        Assert.DoesNotContain(".local", ptx);
        Assert.DoesNotContain("tanh.approx.ftz", ptx);
    }
}
