using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.GpuBench;

/// <summary>
/// Copies of one random matrix, taken in turn, so a kernel timed over them reads its weights from memory as a decode
/// step does (28 layers of distinct weights), not from L2: one 3584×18944 Q4_0 matrix (38 MB) fits in an H100/H200's
/// 50 MB L2, and timing it alone again and again measures partly the cache. The copies together hold at least
/// <see cref="ColdBytes"/>, beyond any current GPU's L2; one copy on a smoke run.
/// </summary>
internal sealed class ColdMatrices : IDisposable
{
    /// <summary>Bytes the copies hold together at least (H100/H200: 50 MB of L2; B200: 126 MB).</summary>
    public const long ColdBytes = 256L << 20;

    private readonly GpuMatrix[] _copies;
    private int _next;

    public ColdMatrices(GpuDevice gpu, TensorType type, int rows, int cols, bool single)
    {
        var first = GpuMatrix.Allocate(gpu, type, rows, cols);
        first.Randomize(gpu, 12345);
        int count = single ? 1 : (int)Math.Clamp((ColdBytes + first.Bytes - 1) / first.Bytes, 1, 64);
        _copies = new GpuMatrix[count];
        _copies[0] = first;
        for (int i = 1; i < count; i++)
        {
            _copies[i] = GpuMatrix.Allocate(gpu, type, rows, cols);
            _copies[i].Randomize(gpu, 12345 + (uint)i);
        }
    }

    /// <summary>The first copy: the same matrix every call (its weights stay in L2 where they fit).</summary>
    public GpuMatrix Hot => _copies[0];

    /// <summary>The next copy in turn: a matrix whose weights left L2 since it was last read.</summary>
    public GpuMatrix Next()
    {
        var matrix = _copies[_next];
        _next = (_next + 1) % _copies.Length;
        return matrix;
    }

    public int Count => _copies.Length;

    public void Dispose()
    {
        foreach (var copy in _copies) copy.Dispose();
    }
}
