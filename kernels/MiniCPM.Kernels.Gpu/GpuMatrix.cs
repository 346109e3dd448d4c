using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// A weight matrix [rows, cols] in device memory, in its file dtype. Float types, Q4_K and Q5_K keep the file's bytes;
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q6_K blocks are split on upload into an aligned quant array (16-byte loads) and a
/// 16-bit header array (fp16 scales/mins, Q5's fifth bits) — their file blocks are 18..34 and 210 bytes, which no
/// vector load can start on — the same bits, regrouped. Q2_K (84 bytes) and Q3_K (110) are repacked per super-block
/// likewise (see their row formats).
/// </summary>
public sealed class GpuMatrix : IDisposable
{
    private readonly MemoryBuffer1D<UInt4, Stride1D.Dense> _words;
    private readonly MemoryBuffer1D<ushort, Stride1D.Dense>? _scales;

    private GpuMatrix(TensorType type, int rows, int cols, MemoryBuffer1D<UInt4, Stride1D.Dense> words,
        MemoryBuffer1D<ushort, Stride1D.Dense>? scales)
    {
        Type = type;
        Rows = rows;
        Cols = cols;
        _words = words;
        _scales = scales;
    }

    public TensorType Type { get; }
    public int Rows { get; }
    public int Cols { get; }

    /// <summary>Device bytes the matrix occupies (what one pass over it reads).</summary>
    public long Bytes => _words.LengthInBytes + (_scales?.LengthInBytes ?? 0);

    /// <summary>The types the GPU kernels read.</summary>
    public static bool IsSupported(TensorType type) =>
        type is TensorType.F32 or TensorType.F16 or TensorType.BF16 or TensorType.Q8_0 or TensorType.Q4_0
            or TensorType.Q4_K or TensorType.Q6_K or TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q5_K
            or TensorType.Q2_K or TensorType.Q3_K;

    /// <summary>Columns must fill whole 32-value units (and whole 256-value super-blocks for the K-quants).</summary>
    public static string? ShapeProblem(TensorType type, int cols)
    {
        int unit = type is TensorType.Q4_K or TensorType.Q6_K or TensorType.Q5_K or TensorType.Q2_K or TensorType.Q3_K ? 256 : 32;
        return cols % unit == 0 ? null : $"{type} rows of {cols} columns: the GPU kernels need a multiple of {unit}";
    }

    /// <summary>A matrix with undefined contents (to be filled by <see cref="Randomize"/> or a kernel).</summary>
    public static GpuMatrix Allocate(GpuDevice device, TensorType type, int rows, int cols)
    {
        if (!IsSupported(type)) throw new NotSupportedException($"the GPU kernels do not read {type} weights");
        if (ShapeProblem(type, cols) is { } problem) throw new ArgumentException(problem, nameof(cols));
        var (words, scales) = Layout(type, rows, cols);
        var wordBuffer = device.Allocate<UInt4>(words);
        var scaleBuffer = scales > 0 ? device.Allocate<ushort>(scales) : null;
        return new GpuMatrix(type, rows, cols, wordBuffer, scaleBuffer);
    }

    /// <summary>Device bytes a rows × cols matrix of <paramref name="type"/> takes (what <see cref="Upload"/> will
    /// allocate), or null for a type or shape the kernels do not read.</summary>
    public static long? DeviceBytes(TensorType type, int rows, int cols)
    {
        if (!IsSupported(type) || ShapeProblem(type, cols) is not null) return null;
        var (words, scales) = Layout(type, rows, cols);
        return words * 16 + scales * 2;
    }

    /// <summary>16-byte words of quants (or float values) and 16-bit header fields per matrix.</summary>
    private static (long Words, long Scales) Layout(TensorType type, int rows, int cols)
    {
        long units = (long)rows * (cols / 32);
        return type switch
        {
            TensorType.F32 => (units * 8, 0L),
            TensorType.F16 or TensorType.BF16 => (units * 4, 0L),
            TensorType.Q8_0 => (units * 2, units),
            TensorType.Q4_0 => (units, units),
            TensorType.Q4_K => (units / 8 * 9, 0L),
            TensorType.Q4_1 => (units, units * 2),
            TensorType.Q5_0 => (units, units * 3),
            TensorType.Q5_1 => (units, units * 4),
            TensorType.Q5_K => (units / 8 * 11, 0L),
            TensorType.Q2_K => (units / 8 * 5, units / 8 * 2),
            TensorType.Q3_K => (units / 8 * 7, 0L),
            _ => (units / 8 * 13, units / 8), // Q6_K
        };
    }

    /// <summary>Uploads rows × cols values stored as <paramref name="type"/> (rows contiguous, ggml block layout).</summary>
    public static GpuMatrix Upload(GpuDevice device, TensorType type, ReadOnlySpan<byte> data, int rows, int cols)
    {
        var matrix = Allocate(device, type, rows, cols);
        long rowBytes = type.RowBytes(cols) ?? throw new ArgumentException($"{cols} columns are not whole {type} blocks", nameof(cols));
        if (data.Length != rowBytes * rows)
            throw new ArgumentException($"{data.Length} bytes for {rows}×{cols} {type} ({rowBytes * rows} expected)", nameof(data));
        switch (type)
        {
            case TensorType.Q4_0: matrix.UploadSplit(data, 18, 16); break;
            case TensorType.Q8_0: matrix.UploadSplit(data, 34, 32); break;
            case TensorType.Q4_1: matrix.UploadSplit(data, 20, 16); break;
            case TensorType.Q5_0: matrix.UploadSplit(data, 22, 16); break;
            case TensorType.Q5_1: matrix.UploadSplit(data, 24, 16); break;
            case TensorType.Q6_K: matrix.UploadQ6K(data); break;
            case TensorType.Q2_K: matrix.UploadQ2K(data); break;
            case TensorType.Q3_K: matrix.UploadQ3K(data); break;
            default:
                matrix.Words.CopyFromCPU(MemoryMarshal.Cast<byte, UInt4>(data));
                break;
        }
        return matrix;
    }

    /// <summary>Blocks of [header: 16-bit fields (d, m, qh halves)][quant bytes] → quants array + header array.</summary>
    private void UploadSplit(ReadOnlySpan<byte> data, int blockBytes, int quantBytes)
    {
        int blocks = data.Length / blockBytes, fields = (blockBytes - quantBytes) / 2;
        var quants = new byte[(long)blocks * quantBytes];
        var scales = new ushort[blocks * fields];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.Slice(b * blockBytes, blockBytes);
            for (int f = 0; f < fields; f++)
                scales[b * fields + f] = BinaryPrimitives.ReadUInt16LittleEndian(block[(2 * f)..]);
            block.Slice(2 * fields, quantBytes).CopyTo(quants.AsSpan(b * quantBytes));
        }
        Words.CopyFromCPU((ReadOnlySpan<UInt4>)MemoryMarshal.Cast<byte, UInt4>(quants));
        ((ArrayView<ushort>)_scales!.View).CopyFromCPU(scales.AsSpan());
    }

    /// <summary>Q6_K's 210-byte blocks [ql 128][qh 64][scales 16][d] → 208 aligned bytes + d.</summary>
    private void UploadQ6K(ReadOnlySpan<byte> data)
    {
        int blocks = data.Length / 210;
        var packed = new byte[(long)blocks * 208];
        var scales = new ushort[blocks];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.Slice(b * 210, 210);
            block[..208].CopyTo(packed.AsSpan(b * 208));
            scales[b] = BinaryPrimitives.ReadUInt16LittleEndian(block[208..]);
        }
        Words.CopyFromCPU((ReadOnlySpan<UInt4>)MemoryMarshal.Cast<byte, UInt4>(packed));
        ((ArrayView<ushort>)_scales!.View).CopyFromCPU(scales.AsSpan());
    }

    /// <summary>Q2_K's 84-byte blocks [scales 16][qs 64][d][dmin] → 80 aligned bytes + d, dmin.</summary>
    private void UploadQ2K(ReadOnlySpan<byte> data)
    {
        int blocks = data.Length / 84;
        var packed = new byte[(long)blocks * 80];
        var scales = new ushort[blocks * 2];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.Slice(b * 84, 84);
            block[..80].CopyTo(packed.AsSpan(b * 80));
            scales[2 * b] = BinaryPrimitives.ReadUInt16LittleEndian(block[80..]);
            scales[2 * b + 1] = BinaryPrimitives.ReadUInt16LittleEndian(block[82..]);
        }
        Words.CopyFromCPU((ReadOnlySpan<UInt4>)MemoryMarshal.Cast<byte, UInt4>(packed));
        ((ArrayView<ushort>)_scales!.View).CopyFromCPU(scales.AsSpan());
    }

    /// <summary>Q3_K's 110-byte blocks [hmask 32][qs 64][scales 12][d] → 112 aligned bytes [d][0 0][scales][hmask][qs].</summary>
    private void UploadQ3K(ReadOnlySpan<byte> data)
    {
        int blocks = data.Length / 110;
        var packed = new byte[(long)blocks * 112];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.Slice(b * 110, 110);
            var target = packed.AsSpan(b * 112, 112);
            block.Slice(108, 2).CopyTo(target);
            block.Slice(96, 12).CopyTo(target[4..]);
            block[..96].CopyTo(target[16..]);
        }
        Words.CopyFromCPU((ReadOnlySpan<UInt4>)MemoryMarshal.Cast<byte, UInt4>(packed));
    }

    /// <summary>Fills the matrix with valid pseudo-random data of its type (benchmarks), on the device.</summary>
    public void Randomize(GpuDevice device, uint seed)
    {
        int halfEvery = Type switch { TensorType.F16 => 1, TensorType.Q4_K => 36, TensorType.Q5_K => 44, TensorType.Q3_K => 28, _ => 0 };
        var words = Words.Cast<uint>();
        device.Kernels.RandomWords((int)words.Length, words, seed, halfEvery);
        if (_scales is not null) device.Kernels.RandomHalves((int)_scales.Length, _scales.View, seed * 7919 + 1);
    }

    /// <summary>The 16-byte words (quants, or the whole file bytes for float types, Q4_K and Q5_K).</summary>
    internal ArrayView<UInt4> Words => _words.View;

    internal F32Rows AsF32 => new() { Words = _words.View, WordsPerRow = Cols / 4 };
    internal F16Rows AsF16 => new() { Words = _words.View, WordsPerRow = Cols / 8 };
    internal Bf16Rows AsBf16 => new() { Words = _words.View, WordsPerRow = Cols / 8 };
    internal Q8_0Rows AsQ8_0 => new() { Quants = _words.View, Scales = _scales!.View, BlocksPerRow = Cols / 32 };
    internal Q4_0Rows AsQ4_0 => new() { Quants = _words.View, Scales = _scales!.View, BlocksPerRow = Cols / 32 };
    internal Q4_KRows AsQ4_K => new() { Blocks = _words.View, SuperBlocksPerRow = Cols / 256 };
    internal Q4_1Rows AsQ4_1 => new() { Quants = _words.View, Scales = _scales!.View, BlocksPerRow = Cols / 32 };
    internal Q5_0Rows AsQ5_0 => new() { Quants = _words.View, Scales = _scales!.View, BlocksPerRow = Cols / 32 };
    internal Q5_1Rows AsQ5_1 => new() { Quants = _words.View, Scales = _scales!.View, BlocksPerRow = Cols / 32 };
    internal Q5_KRows AsQ5_K => new() { Blocks = _words.View, SuperBlocksPerRow = Cols / 256 };
    internal Q2_KRows AsQ2_K => new() { Blocks = _words.View, Scales = _scales!.View, SuperBlocksPerRow = Cols / 256 };
    internal Q3_KRows AsQ3_K => new() { Blocks = _words.View, SuperBlocksPerRow = Cols / 256 };
    internal Q6_KRows AsQ6_K => new() { Blocks = _words.View, Scales = _scales!.View, SuperBlocksPerRow = Cols / 256 };

    /// <summary>Calls <paramref name="visitor"/> with the matrix's row format: the one switch from
    /// <see cref="Type"/> to a format struct (see <see cref="IRowFormatVisitor"/>).</summary>
    internal void Accept<TVisitor>(ref TVisitor visitor) where TVisitor : struct, IRowFormatVisitor
    {
        switch (Type)
        {
            case TensorType.F32: visitor.Visit(AsF32); break;
            case TensorType.F16: visitor.Visit(AsF16); break;
            case TensorType.BF16: visitor.Visit(AsBf16); break;
            case TensorType.Q8_0: visitor.VisitInt8<Q8_0Rows, Q8_0Rows.Words>(AsQ8_0); break;
            case TensorType.Q4_0: visitor.VisitInt8<Q4_0Rows, Q4_0Rows.Words>(AsQ4_0); break;
            case TensorType.Q4_K: visitor.VisitInt8<Q4_KRows, Q4_KRows.Words>(AsQ4_K); break;
            case TensorType.Q6_K: visitor.VisitInt8<Q6_KRows, Q6_KRows.Words>(AsQ6_K); break;
            case TensorType.Q4_1: visitor.VisitInt8<Q4_1Rows, Q4_1Rows.Words>(AsQ4_1); break;
            case TensorType.Q5_0: visitor.VisitInt8<Q5_0Rows, Q5_0Rows.Words>(AsQ5_0); break;
            case TensorType.Q5_1: visitor.VisitInt8<Q5_1Rows, Q5_1Rows.Words>(AsQ5_1); break;
            case TensorType.Q5_K: visitor.VisitInt8<Q5_KRows, Q5_KRows.Words>(AsQ5_K); break;
            case TensorType.Q2_K: visitor.VisitInt8<Q2_KRows, Q2_KRows.Words>(AsQ2_K); break;
            case TensorType.Q3_K: visitor.VisitInt8<Q3_KRows, Q3_KRows.Words>(AsQ3_K); break;
            default: throw new NotSupportedException($"the GPU kernels do not read {Type} weights");
        }
    }

    public void Dispose()
    {
        _words.Dispose();
        _scales?.Dispose();
    }
}
