namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>A weight quantized to NF4 with double-quantized block scales, in the arrays bitsandbytes stores.</summary>
public sealed record Nf4Quantized(
    byte[] Codes, float[] CodeBook, byte[] AbsmaxCodes, float[] NestedAbsmax, float[] NestedCode, float NestedOffset,
    int BlockSize, int NestedBlockSize);

/// <summary>
/// Quantizes float32 weights to NF4 the way bitsandbytes' default (PyTorch) backend does with
/// <c>compress_statistics=True</c>: per block absmax = max |x|; x·(1/absmax) clamped to [−1, 1] takes the nearest NF4
/// code (first one on a tie, as argmin); codes are packed two per byte, first element high. Then the block scales
/// are centred on their mean (the offset) and quantized to 8 bits per block of 256 with the dynamic code book in the
/// same way. A block of zeros (absmax 0) gets the code of 0.0 where bitsandbytes would divide by zero.
/// </summary>
public static class Nf4Quantizer
{
    public static Nf4Quantized Quantize(ReadOnlySpan<float> weights, int blockSize = 64, int nestedBlockSize = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(nestedBlockSize, 1);
        int n = weights.Length;
        int blocks = (n + blockSize - 1) / blockSize;
        var codeBook = Nf4CodeBooks.Nf4.ToArray();
        var absmax = new float[blocks];
        var codes = new byte[(n + 1) / 2];
        for (int b = 0; b < blocks; b++)
        {
            var block = weights.Slice(b * blockSize, Math.Min(blockSize, n - b * blockSize));
            float max = 0;
            foreach (float v in block) max = Math.Max(max, Math.Abs(v));
            absmax[b] = max;
            float inverse = 1 / max;
            for (int k = 0; k < block.Length; k++)
            {
                int j = b * blockSize + k;
                int code = Nearest(codeBook, max == 0 ? 0 : Math.Clamp(block[k] * inverse, -1f, 1f));
                codes[j >> 1] |= (byte)((j & 1) == 0 ? code << 4 : code);
            }
        }

        // Double quantization of the scales.
        double sum = 0;
        foreach (float a in absmax) sum += a;
        float offset = (float)(sum / blocks);
        var nestedCode = Nf4CodeBooks.Dynamic();
        int nestedBlocks = (blocks + nestedBlockSize - 1) / nestedBlockSize;
        var nestedAbsmax = new float[nestedBlocks];
        var absmaxCodes = new byte[blocks];
        for (int nb = 0; nb < nestedBlocks; nb++)
        {
            int start = nb * nestedBlockSize, count = Math.Min(nestedBlockSize, blocks - start);
            float max = 0;
            for (int k = 0; k < count; k++) max = Math.Max(max, Math.Abs(absmax[start + k] - offset));
            nestedAbsmax[nb] = max;
            float inverse = 1 / max;
            for (int k = 0; k < count; k++)
            {
                float centred = absmax[start + k] - offset;
                absmaxCodes[start + k] = (byte)Nearest(nestedCode, max == 0 ? 0 : Math.Clamp(centred * inverse, -1f, 1f));
            }
        }
        return new Nf4Quantized(codes, codeBook, absmaxCodes, nestedAbsmax, nestedCode, offset, blockSize, nestedBlockSize);
    }

    private static int Nearest(float[] codeBook, float value)
    {
        int best = 0;
        float bestDistance = float.PositiveInfinity;
        for (int k = 0; k < codeBook.Length; k++)
        {
            float distance = Math.Abs(value - codeBook[k]);
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = k;
            }
        }
        return best;
    }
}
