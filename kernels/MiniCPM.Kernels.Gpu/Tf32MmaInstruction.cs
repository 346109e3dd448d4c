using ILGPU;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Kernels.Gpu;

/// <summary><see cref="ITf32Mma"/> as the instruction itself (inline PTX): CUDA devices of compute capability 8.0 and up only.</summary>
public struct Tf32MmaInstruction : ITf32Mma
{
    public readonly void MultiplyAdd(ref float d0, ref float d1, ref float d2, ref float d3,
        float a0, float a1, float a2, float a3, float b0, float b1)
    {
        // Ref: read and written (D is C); Input: read only. ILGPU passes each through a 4-byte local slot, which
        // ptxas keeps in a register (no local loads or stores in the SASS).
        var r0 = new Ref<float> { Value = d0 };
        var r1 = new Ref<float> { Value = d1 };
        var r2 = new Ref<float> { Value = d2 };
        var r3 = new Ref<float> { Value = d3 };
        var i0 = new Input<uint> { Value = Interop.FloatAsInt(a0) };
        var i1 = new Input<uint> { Value = Interop.FloatAsInt(a1) };
        var i2 = new Input<uint> { Value = Interop.FloatAsInt(a2) };
        var i3 = new Input<uint> { Value = Interop.FloatAsInt(a3) };
        var j0 = new Input<uint> { Value = Interop.FloatAsInt(b0) };
        var j1 = new Input<uint> { Value = Interop.FloatAsInt(b1) };
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref r0, ref r1, ref r2, ref r3, ref i0, ref i1, ref i2, ref i3, ref j0, ref j1);
        d0 = r0.Value; d1 = r1.Value; d2 = r2.Value; d3 = r3.Value;
    }
}
