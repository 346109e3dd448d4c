using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Vision;

/// <summary>
/// SigLIP's input embedding of one slice (reference doc §3.1–3.2): the patch convolution (kernel = stride = patch,
/// with bias) as one matrix product over the unfolded patches, plus the learned position embedding of each patch's
/// NaViT bucket:
/// <code>
/// E[n] = W·unfold(X)[n] + b + P[id(n)]        n = r·w + c (row-major patches), id from NavitPositionIds
/// </code>
/// </summary>
internal sealed class PatchEmbedding
{
    private readonly Linear _convolution;    // [hidden, 3·p·p], rows in (channel, ky, kx) order
    private readonly WeightMatrix _positions; // [side², hidden]
    private readonly VisionConfig _config;

    private PatchEmbedding(Linear convolution, WeightMatrix positions, VisionConfig config)
    {
        _convolution = convolution;
        _positions = positions;
        _config = config;
    }

    public static PatchEmbedding Load(VisionConfig config, TowerWeights w)
    {
        int side = config.PositionGridSide;
        return new PatchEmbedding(
            w.Convolution("vision.patch_embd.weight", "vision.patch_embd.bias", config.HiddenSize, 3, config.PatchSize),
            w.Table("vision.position_embd.weight", side * side, config.HiddenSize),
            config);
    }

    /// <summary>The embeddings [h·w, hidden] of a validated slice into <paramref name="output"/>.</summary>
    public void Apply(VisionSlice slice, float[] output, CpuThreadPool? pool)
    {
        int p = _config.PatchSize, rows = slice.PatchRows(p), columns = slice.PatchColumns(p);
        int patches = rows * columns, hidden = _config.HiddenSize;
        var unfolded = new float[checked(patches * 3 * p * p)];
        Unfold(slice, p, unfolded);
        _convolution.Apply(unfolded, patches, output, pool);

        int[] ids = NavitPositionIds.ForGrid(rows, columns, _config.PositionGridSide);
        var position = new float[hidden];
        for (int n = 0; n < patches; n++)
        {
            Embedding.RowToFloat(_positions, ids[n], position);
            var row = output.AsSpan(n * hidden, hidden);
            Elementwise.Add(row, position, row);
        }
    }

    /// <summary>
    /// im2col: row n = r·w + c holds the patch's pixels X[ch, r·p + ky, c·p + kx] in (ch, ky, kx) order — the order of
    /// the convolution kernel's inner dimensions.
    /// </summary>
    private static void Unfold(VisionSlice slice, int p, float[] unfolded)
    {
        int height = slice.Height, width = slice.Width, columns = width / p, rows = height / p, patchLength = 3 * p * p;
        var pixels = slice.Pixels;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int destination = (r * columns + c) * patchLength;
                for (int channel = 0; channel < 3; channel++)
                    for (int ky = 0; ky < p; ky++)
                    {
                        int source = (channel * height + r * p + ky) * width + c * p;
                        Array.Copy(pixels, source, unfolded, destination, p);
                        destination += p;
                    }
            }
    }
}
