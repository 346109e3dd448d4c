using System.Runtime.InteropServices;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Weights and activations that end exactly where an inaccessible page begins — as the last tensor of a memory-mapped
/// file can. Every CPU matrix kernel must read only its own bytes (a vector load past the end would kill this process
/// with SIGSEGV), and must give the same bits as on an ordinary array. Linux (libc mmap/mprotect), as the engine.
/// </summary>
public sealed unsafe partial class GuardPageTests
{
    public static TheoryData<TensorType, int, ActivationPrecision> Cases()
    {
        var data = new TheoryData<TensorType, int, ActivationPrecision>();
        foreach (var type in Enum.GetValues<TensorType>().Where(RowKernels.Supports))
            foreach (int tokens in new[] { 1, 3, 5, 64 })
                foreach (var activations in new[] { ActivationPrecision.Float32, ActivationPrecision.Int8 })
                    if (activations == ActivationPrecision.Float32 || Int8RowKernels.Supports(type))
                        data.Add(type, tokens, activations);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatrixProductsReadNothingPastTheirLastByte(TensorType type, int tokens, ActivationPrecision activations)
    {
        const int rows = 5, cols = 512; // five rows: the four-row kernels' quarters plus a single row
        var random = new Random((int)type * 31 + tokens);
        long rowBytes = type.RowBytes(cols)!.Value;
        var weights = new byte[rows * rowBytes];
        var source = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) source[c] = (float)(random.NextDouble() * 2 - 1);
            BlockQuantizer.Quantize(type, source, weights.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);

        var expected = new float[tokens * rows];
        fixed (byte* w = weights) MatMul.Multiply(new WeightMatrix(type, w, rows, cols, rowBytes), x, tokens, expected, activations: activations);

        using var guardedWeights = new GuardedBuffer(weights);
        using var guardedX = new GuardedBuffer(MemoryMarshal.AsBytes(x.AsSpan()));
        var actual = new float[tokens * rows];
        MatMul.Multiply(new WeightMatrix(type, guardedWeights.Data, rows, cols, rowBytes),
            new ReadOnlySpan<float>(guardedX.Data, x.Length), tokens, actual, activations: activations);
        Assert.Equal(expected, actual);
    }

    public static TheoryData<TensorType> Types() => new(Enum.GetValues<TensorType>().Where(RowKernels.Supports));

    [Theory]
    [MemberData(nameof(Types))]
    public void GatheringTheLastRowReadsNothingPastIt(TensorType type)
    {
        const int rows = 3, cols = 256;
        long rowBytes = type.RowBytes(cols)!.Value;
        var table = new byte[rows * rowBytes];
        var source = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) source[c] = MathF.Sin(r * 7 + c * 0.1f);
            BlockQuantizer.Quantize(type, source, table.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        var expected = new float[cols];
        fixed (byte* t = table) Embedding.Gather(new WeightMatrix(type, t, rows, cols, rowBytes), [rows - 1], expected);
        using var guarded = new GuardedBuffer(table);
        var actual = new float[cols];
        Embedding.Gather(new WeightMatrix(type, guarded.Data, rows, cols, rowBytes), [rows - 1], actual);
        Assert.Equal(expected, actual);
        Assert.Contains(actual, v => v != 0);
    }

    /// <summary>A copy of some bytes ending at the first byte of a PROT_NONE page.</summary>
    private sealed class GuardedBuffer : IDisposable
    {
        private const int ProtNone = 0, ProtReadWrite = 3, MapPrivateAnonymous = 0x02 | 0x20;
        private readonly nint _mapping;
        private readonly nuint _length;

        public GuardedBuffer(ReadOnlySpan<byte> bytes)
        {
            nuint page = (nuint)Environment.SystemPageSize;
            nuint dataPages = ((nuint)bytes.Length + page - 1) / page;
            _length = (dataPages + 1) * page;
            _mapping = Mmap(0, _length, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            Assert.NotEqual(-1, _mapping);
            byte* guard = (byte*)_mapping + dataPages * page;
            Assert.Equal(0, Mprotect((nint)guard, page, ProtNone));
            Data = guard - bytes.Length;
            bytes.CopyTo(new Span<byte>(Data, bytes.Length));
        }

        public byte* Data { get; }

        public void Dispose() => Munmap(_mapping, _length);
    }

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect")]
    private static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);
}
