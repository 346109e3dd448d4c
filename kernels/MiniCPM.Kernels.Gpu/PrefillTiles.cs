using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>A batch's query tiles in device memory: <paramref name="Count"/> (first row, row count) pairs.</summary>
public readonly record struct PrefillTiles(ArrayView<int> List, int Count);
