using System.Reflection;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Audio;

/// <summary>
/// The Whisper encoder's kernels and the sampling candidates' kernel compiled to PTX for SM_90 with no GPU (see
/// <see cref="Vision.VisionPtxTests"/> for why the simulator cannot show this): nothing in local memory, no instruction
/// form the driver's JIT rejects, and the candidates' histogram and counters in shared memory.
/// </summary>
public sealed class AudioPtxTests
{
    [Theory]
    [InlineData(typeof(Conv1dUnfoldKernel), nameof(Conv1dUnfoldKernel.Kernel), false)]
    [InlineData(typeof(ElementwiseKernels), nameof(ElementwiseKernels.GeluErf), false)]
    [InlineData(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Relu), false)]
    [InlineData(typeof(AveragePoolKernel), nameof(AveragePoolKernel.Kernel), false)]
    [InlineData(typeof(LogitCandidatesKernel), nameof(LogitCandidatesKernel.Kernel), true)]
    public void CompilesToPtxTheDriverAccepts(Type kernel, string name, bool explicitlyGrouped)
    {
        MethodInfo method = kernel.GetMethod(name)!;
        string ptx = explicitlyGrouped ? Ptx.Grouped(method) : Ptx.Indexed(method);
        Assert.DoesNotContain(".local", ptx);
        Assert.DoesNotContain("tanh.approx.ftz", ptx);
        if (kernel == typeof(LogitCandidatesKernel))
        {
            Assert.Contains(".shared", ptx);
            Assert.Matches(@"atom\.[a-z.]*shared", ptx); // the slot counters (ILGPU spells it atom.add.shared)
        }
    }
}
