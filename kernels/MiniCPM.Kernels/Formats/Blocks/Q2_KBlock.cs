using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q2_K, 84 bytes: <c>scales[16]</c> (per 16-element sub-block: low nibble = scale, high nibble = min),
/// <c>qs[64]</c> (2-bit quants), <c>d</c> (f16), <c>dmin</c> (f16). Each 128-element half uses 32 quant bytes; the
/// 2-bit field at shift 2s of byte l holds element 32s + l of that half. y = d·sc·q − dmin·m.
/// </summary>
internal struct Q2_KBlock : IBlockFormat
{
    public static int Elements => 256;
    public static int Bytes => 84;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<byte> scales = block[..16];
        ReadOnlySpan<byte> qs = block.Slice(16, 64);
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[80..]));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[82..]));

        int output = 0, subBlock = 0;
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                // Two 16-element sub-blocks per shift: bytes 0..15 then bytes 16..31 of this half.
                for (int part = 0; part < 2; part++)
                {
                    byte sc = scales[subBlock++];
                    float dl = d * (sc & 0x0F);
                    float ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        y[output++] = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}
