using MiniCPM.Kernels.Gpu;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The matrix kernels compiled to PTX for SM_90 (no GPU needed) for every weight format: the simulator runs them as
/// .NET code and cannot tell whether ILGPU's PTX backend accepts the generic row formats, nor whether the unit's 32
/// weights stay in registers (no local memory).
/// </summary>
public sealed class MatMulPtxTests
{
    public static TheoryData<Type> Formats => new()
    {
        typeof(F32Rows), typeof(F16Rows), typeof(Bf16Rows), typeof(Q8_0Rows), typeof(Q4_0Rows), typeof(Q4_1Rows),
        typeof(Q5_0Rows), typeof(Q5_1Rows), typeof(Q2_KRows), typeof(Q3_KRows), typeof(Q4_KRows), typeof(Q5_KRows),
        typeof(Q6_KRows),
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void MatMulCompilesToPtxWithoutLocalMemory(Type format) => ExpectMatMulPtx(format, typeof(RowPairStore));

    /// <summary>The q|k|v projection with RoPE and the KV-cache write in its epilogue (<see cref="RopeCacheOutput"/>).</summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public void MatMulWithRopeAndCacheCompilesToPtxWithoutLocalMemory(Type format) => ExpectMatMulPtx(format, typeof(RopeCacheOutput));

    private static void ExpectMatMulPtx(Type format, Type output)
    {
        string ptx = Ptx.Grouped(typeof(MatMulKernel).GetMethod(nameof(MatMulKernel.Kernel))!.MakeGenericMethod(format, output));
        Assert.Contains(".entry", ptx);
        Assert.Contains("ld.global", ptx); // the whole kernel, not an empty shell
        Assert.DoesNotContain(".local", ptx);
        // A byte converted to float must never be read as unsigned where the format means signed: ILGPU compiles a
        // (sbyte)(byte)x cast to cvt.rn.f32.u8, which turned Q6_K's negative scales positive on an H200 (the
        // simulator runs the cast as .NET does and never saw it). The formats' signed bytes go through shifts instead.
        Assert.DoesNotContain("f32.u8", ptx);
        Assert.DoesNotContain("f32.s8", ptx);
    }

    /// <summary>The same sign rule at its source: <see cref="Bits.SignedByte"/> compiled alone keeps a signed shift.</summary>
    [Fact]
    public void SignedBytesSignExtendInPtx()
    {
        string ptx = Ptx.Indexed(typeof(MatMulPtxTests).GetMethod(nameof(SignedBytes), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!);
        Assert.Contains("shr.s32", ptx);
        Assert.DoesNotContain(".u8", ptx);
    }

    private static void SignedBytes(ILGPU.Index1D i, ILGPU.ArrayView<uint> words, ILGPU.ArrayView<float> y) => y[i] = Bits.SignedByte(words[i], i & 3);

    [Theory]
    [MemberData(nameof(Formats))]
    public void TiledMatMulCompilesToPtxWithoutLocalMemory(Type format)
    {
        string ptx = Ptx.Grouped(typeof(TiledMatMulKernel).GetMethod(nameof(TiledMatMulKernel.Kernel))!.MakeGenericMethod(format));
        Assert.Contains(".entry", ptx);
        Assert.Contains("ld.global", ptx);
        Assert.Contains("ld.shared.v4.f32", ptx); // the tiles live in shared memory, read 16 bytes at a time
        Assert.Contains("bar.sync", ptx);
        Assert.DoesNotContain(".local", ptx); // the 4×4 block of sums stays in registers
    }
}
