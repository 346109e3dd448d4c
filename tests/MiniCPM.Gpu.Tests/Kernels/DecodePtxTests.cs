using System.Reflection;
using ILGPU;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The decode kernels compiled to PTX for SM_90 without a GPU (as <see cref="Vision.VisionPtxTests"/>): the int8
/// matrix-vector kernel for every int8 weight format (plain, with the RoPE epilogue, with the RMSNorm tail) must use
/// dp4a and keep its state in registers; the split-K
/// attention and its merge, the tiled prefill attention, the fused int8 producers (RMSNorm, SiLU·mul), the quantizer
/// they share, and the matrix kernel's butterfly reductions must compile without local memory.
/// </summary>
public sealed class DecodePtxTests
{
    [Theory]
    [InlineData(typeof(Q4_0Rows), 8)]
    [InlineData(typeof(Q4_1Rows), 8)]
    [InlineData(typeof(Q5_0Rows), 8)]
    [InlineData(typeof(Q5_1Rows), 8)]
    [InlineData(typeof(Q8_0Rows), 8)]
    [InlineData(typeof(Q2_KRows), 12)] // and four for the low half's Σx_q (its mins)
    [InlineData(typeof(Q3_KRows), 12)] // 8 + 4 for the low half's Σx_q that pays the −4
    [InlineData(typeof(Q4_KRows), 8)]
    [InlineData(typeof(Q5_KRows), 8)]
    [InlineData(typeof(Q6_KRows), 12)] // 8 + 4 for the low half's Σx_q that pays the −32
    public void Int8MatVecCompilesToDp4aWithoutLocalMemory(Type format, int dp4aPerBlock)
    {
        string ptx = ExpectDp4aWithoutLocalMemory(Int8MatVec(format, typeof(RowPairStore)), dp4aPerBlock);
        Assert.DoesNotContain("membar", ptx); // the plain kernel's empty tail leaves nothing behind
    }

    /// <summary>The q|k|v projection with RoPE and the KV-cache write in its epilogue: the same inner loop, so the same
    /// dp4a and nothing more in local memory; cos/sin come from the table, not computed.</summary>
    [Theory]
    [InlineData(typeof(Q4_0Rows), 8)]
    [InlineData(typeof(Q5_1Rows), 8)]
    [InlineData(typeof(Q8_0Rows), 8)]
    [InlineData(typeof(Q2_KRows), 12)]
    [InlineData(typeof(Q4_KRows), 8)]
    [InlineData(typeof(Q6_KRows), 12)] // 8 + 4 for the low half's Σx_q that pays the −32
    public void Int8MatVecWithRopeAndCacheCompilesToDp4aWithoutLocalMemory(Type format, int dp4aPerBlock)
    {
        string ptx = ExpectDp4aWithoutLocalMemory(Int8MatVec(format, typeof(RopeCacheOutput)), dp4aPerBlock);
        Assert.DoesNotContain("cos.approx", ptx);
        Assert.DoesNotContain("sin.approx", ptx);
    }

    /// <summary>The o/down projection with the next RMSNorm(+int8) as its tail: the same inner loop (the same dp4a,
    /// nothing more in local memory), the device-wide fence and the atomic count of the last-group pattern, and the
    /// norm's quantizer as exact as the standalone kernel's (IEEE division, round half to even by 1.5·2^23).</summary>
    [Theory]
    [InlineData(typeof(Q4_0Rows), 8)]
    [InlineData(typeof(Q8_0Rows), 8)]
    [InlineData(typeof(Q4_KRows), 8)]
    [InlineData(typeof(Q6_KRows), 12)] // 8 + 4 for the low half's Σx_q that pays the −32
    public void Int8MatVecWithRmsNormTailCompilesToDp4aWithoutMoreLocalMemory(Type format, int dp4aPerBlock)
    {
        var method = typeof(Int8MatVecKernel).GetMethod(nameof(Int8MatVecKernel.KernelThenTail))!
            .MakeGenericMethod(format, Int8RowFormat.WordsOf(format), typeof(RowPairStore), typeof(RmsNormTail));
        string ptx = ExpectDp4aWithoutLocalMemory(method, dp4aPerBlock);
        Assert.Contains("membar.gl", ptx);
        Assert.Contains("atom.add.global", ptx); // ILGPU's spelling of atom.global.add
        Assert.Contains("bar.red.or", ptx); // "am I the last group" shared with the whole group
        Assert.Contains("div.rn.f32", ptx);
        Assert.Contains("0f4B400000", ptx);
        Assert.DoesNotContain("approx", ptx.Replace("ex2.approx", ""));
    }

    /// <summary>The gate|up projection with SiLU·mul(+int8) as its tail: the same inner loop, the last-group pattern, and
    /// SiLU·mul and the quantizer as exact as the standalone kernel's (IEEE division; round half to even by 1.5·2^23).</summary>
    [Theory]
    [InlineData(typeof(Q4_0Rows), 8)]
    [InlineData(typeof(Q4_KRows), 8)]
    public void Int8MatVecWithSwiGluTailCompilesToDp4aWithoutMoreLocalMemory(Type format, int dp4aPerBlock)
    {
        var method = typeof(Int8MatVecKernel).GetMethod(nameof(Int8MatVecKernel.KernelThenTail))!
            .MakeGenericMethod(format, Int8RowFormat.WordsOf(format), typeof(RowPairStore), typeof(SwiGluInt8Tail));
        string ptx = ExpectDp4aWithoutLocalMemory(method, dp4aPerBlock);
        Assert.Contains("membar.gl", ptx);
        Assert.Contains("atom.add.global", ptx);
        Assert.Contains("bar.red.or", ptx);
        Assert.Contains("div.rn.f32", ptx);
        Assert.Contains("0f4B400000", ptx);
        Assert.DoesNotContain("approx", ptx.Replace("ex2.approx", ""));
    }

    [Fact]
    public void RopeCompilesWithoutLocalMemory()
    {
        string ptx = Ptx.Indexed(typeof(RopeKernel).GetMethod(nameof(RopeKernel.Kernel))!);
        Assert.DoesNotContain(".local", ptx);
    }

    private static MethodInfo Int8MatVec(Type format, Type output) =>
        typeof(Int8MatVecKernel).GetMethod(nameof(Int8MatVecKernel.Kernel))!.MakeGenericMethod(format, Int8RowFormat.WordsOf(format), output);

    private static string ExpectDp4aWithoutLocalMemory(MethodInfo method, int dp4aPerBlock)
    {
        string ptx = Ptx.Grouped(method);
        int dp4a = CountLines(ptx, "dp4a.s32.s32");
        Assert.Equal(2 * dp4aPerBlock, dp4a); // one block dot per row, two rows per team
        // ILGPU passes CudaAsm.Emit's out operand through a 4-byte local slot (st.local right after each dp4a, ld.local
        // right back — ptxas normally promotes such scalar slots to registers; only a GPU profile can confirm). The
        // same holds for the Q4_0/Q8_0 kernels. Anything else in local memory (spills, arrays) fails here.
        var depots = ptx.Split('\n').Where(l => l.TrimStart().StartsWith(".local", StringComparison.Ordinal)).ToList();
        Assert.Equal(dp4a, depots.Count);
        Assert.All(depots, d => Assert.EndsWith("[4];", d.Trim()));
        Assert.Equal(dp4a, CountLines(ptx, "ld.local"));
        return ptx;
    }

    [Fact]
    public void SplitAttentionCompilesWithoutLocalMemory()
    {
        string ptx = Ptx.Grouped(typeof(SplitAttentionKernel).GetMethod(nameof(SplitAttentionKernel.Kernel))!);
        Assert.DoesNotContain(".local", ptx);
        ptx = Ptx.Grouped(typeof(SplitAttentionKernel).GetMethod(nameof(SplitAttentionKernel.Merge))!);
        Assert.DoesNotContain(".local", ptx);
        ptx = Ptx.Grouped(typeof(SplitAttentionKernel).GetMethod(nameof(SplitAttentionKernel.MergeInt8))!);
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains("shfl.sync.bfly", ptx); // the int8 block's amax and Σq shared by its 8 lanes
    }

    /// <summary>The split kernel with the merge in its tail: no local memory, and the last-group pattern (device fence,
    /// atomic count, "am I the last group" shared by the group).</summary>
    [Fact]
    public void SplitAttentionWithTheMergeInItsTailCompilesWithoutLocalMemory()
    {
        string ptx = Ptx.Grouped(typeof(SplitAttentionKernel).GetMethod(nameof(SplitAttentionKernel.KernelThenMerge))!);
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains("membar.gl", ptx);
        Assert.Contains("atom.add.global", ptx);
        Assert.Contains("bar.red.or", ptx);
        Assert.Contains("shfl.sync.bfly", ptx);
    }

    [Fact]
    public void PrefillAttentionCompilesWithoutLocalMemory()
    {
        string ptx = Ptx.Grouped(typeof(PrefillAttentionKernel).GetMethod(nameof(PrefillAttentionKernel.Kernel))!);
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains("shfl.sync", ptx); // the weights broadcast to the lanes owning the output dimensions
    }

    [Theory]
    [InlineData(nameof(NormKernels.RmsNormInt8))]
    [InlineData(nameof(ElementwiseKernels.SiluMulFusedInt8))]
    [InlineData("Quantize")]
    public void FusedInt8ProducersCompileWithoutLocalMemory(string name)
    {
        string ptx = name switch
        {
            nameof(NormKernels.RmsNormInt8) => Ptx.Grouped(typeof(NormKernels).GetMethod(name)!),
            nameof(ElementwiseKernels.SiluMulFusedInt8) => Ptx.Grouped(typeof(ElementwiseKernels).GetMethod(name)!),
            _ => Ptx.Grouped(typeof(Int8Quantizer).GetMethod("Kernel")!),
        };
        Assert.DoesNotContain(".local", ptx);
        // 127/amax and amax/127 in IEEE division as on the CPU: fast math's div.approx made 127/127 = 0.99999994 on
        // an H200 and flipped quants at exact ties.
        Assert.Contains("div.rn.f32", ptx);
        Assert.Contains("0f4B400000", ptx); // round half to even by adding 1.5·2^23, not XMath.RoundToEven (wrong on an H200)
        Assert.DoesNotContain("approx", ptx.Replace("ex2.approx", ""));
    }

    [Fact]
    public void ButterflyReductionsStayInRegisters()
    {
        var matMul = typeof(MatMulKernel).GetMethod(nameof(MatMulKernel.Kernel))!.MakeGenericMethod(typeof(Q4_0Rows), typeof(RowPairStore));
        string ptx = Ptx.Grouped(matMul);
        Assert.Contains("shfl", ptx);
        Assert.DoesNotContain(".local", ptx);
    }

    [Fact]
    public void GreedyStepKernelsCompileWithoutLocalMemory()
    {
        foreach (string phase in new[] { nameof(ArgMaxKernel.Partial), nameof(ArgMaxKernel.Final) })
        {
            string ptx = Ptx.Grouped(typeof(ArgMaxKernel).GetMethod(phase)!);
            Assert.DoesNotContain(".local", ptx);
            Assert.Contains("shfl.sync.bfly", ptx); // the warp's best (score, id) pairs
        }
        Assert.DoesNotContain(".local", Ptx.Indexed(typeof(DecodeAdvanceKernel).GetMethod(nameof(DecodeAdvanceKernel.Kernel))!));
    }

    private static int CountLines(string ptx, string text) => ptx.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));
}
