using System.Collections.Immutable;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// The ids a decode step may choose, on the device: one bit per id (bit i % 32 of word i / 32, the layout of
/// <see cref="ArgMaxArgs.Allowed"/> and <see cref="LogitCandidatesArgs.Allowed"/>), uploaded again only when the
/// allowed array changes (an <see cref="ImmutableArray{T}"/> does not change, so the same array is the same mask).
/// </summary>
internal sealed class AllowedIdMask : IDisposable
{
    private readonly MemoryBuffer1D<uint, Stride1D.Dense> _words;
    private readonly int _vocabulary;
    private bool[]? _source;
    private bool _uploaded;

    public AllowedIdMask(GpuDevice device, int vocabulary)
    {
        _vocabulary = vocabulary;
        _words = device.Allocate<uint>((vocabulary + 31) / 32);
    }

    public ArrayView<uint> View => _words.View;

    /// <summary>The words on the device, as the host built them.</summary>
    public uint[] HostWords { get; private set; } = [];

    /// <summary>Uploads the mask of <paramref name="allowed"/> (default: every id; ids past its length: none) unless it
    /// is on the device already.</summary>
    public void Set(ImmutableArray<bool> allowed)
    {
        bool[]? source = ImmutableCollectionsMarshal.AsArray(allowed);
        if (_uploaded && ReferenceEquals(source, _source)) return;
        var words = new uint[_words.Length];
        for (int id = 0; id < _vocabulary; id++)
            if (source is null || (id < source.Length && source[id])) words[id >> 5] |= 1u << (id & 31);
        _words.View.CopyFromCPU(words);
        HostWords = words;
        _source = source;
        _uploaded = true;
    }

    public void Dispose() => _words.Dispose();
}
