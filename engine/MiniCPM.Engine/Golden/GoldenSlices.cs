using MiniCPM.Engine.Vision;

namespace MiniCPM.Engine.Golden;

/// <summary>One image slice of a golden case with its patch grid (tgt_sizes row: rows, columns).</summary>
internal sealed record GoldenSlice(VisionSlice Slice, int Rows, int Columns)
{
    public int Patches => Rows * Columns;
}

/// <summary>Reads the pixel_values_i inputs of a case with their tgt_sizes, marking both as inputs.</summary>
internal static class GoldenSlices
{
    public static List<GoldenSlice> Read(GoldenCase goldenCase, GoldenOutputs outputs, int patchSize)
    {
        var sizes = GridSizes(goldenCase, outputs);
        var slices = new List<GoldenSlice>();
        for (int b = 0; b < sizes.Count; b++)
        {
            string name = $"pixel_values_{b}";
            var shape = goldenCase.Shape(name);
            if (shape is not [3, var height, var width])
                throw new GoldenCaseException(goldenCase.Directory, $"'{name}' has shape [{string.Join(", ", shape)}]; [3, H, W] expected");
            var (rows, columns) = sizes[b];
            if (height != (long)rows * patchSize || width != (long)columns * patchSize)
                throw new GoldenCaseException(goldenCase.Directory, $"'{name}' is {width}×{height}, but tgt_sizes[{b}] says {rows}×{columns} patches of {patchSize}");
            slices.Add(new GoldenSlice(new VisionSlice(goldenCase.ReadFloats(name), (int)height, (int)width), rows, columns));
            outputs.MarkInput(name);
        }
        return slices;
    }

    /// <summary>tgt_sizes [B, 2] as (rows, columns) pairs.</summary>
    public static List<(int Rows, int Columns)> GridSizes(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        var shape = goldenCase.Shape("tgt_sizes");
        if (shape is not [_, 2]) throw new GoldenCaseException(goldenCase.Directory, $"tgt_sizes has shape [{string.Join(", ", shape)}]; [B, 2] expected");
        int[] values = goldenCase.ReadInts("tgt_sizes");
        outputs.MarkInput("tgt_sizes");
        return Enumerable.Range(0, values.Length / 2).Select(b => (values[2 * b], values[2 * b + 1])).ToList();
    }
}
