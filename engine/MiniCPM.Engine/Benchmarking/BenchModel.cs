using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Weights;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Benchmarking;

/// <summary>
/// A Qwen2 model opened for benchmarking, with the facts a report records beside its speeds: the bytes on disk, the
/// stored type of the big matrices, and the KV cache it allocated.
/// </summary>
public sealed class BenchModel : IDisposable
{
    private readonly Checkpoint _checkpoint;

    private BenchModel(Checkpoint checkpoint, Qwen2Model model, string path)
    {
        _checkpoint = checkpoint;
        Model = model;
        Path = path;
        FileBytes = File.Exists(path)
            ? ((File.ResolveLinkTarget(path, returnFinalTarget: true) as FileInfo) ?? new FileInfo(path)).Length // a symlink's own length is not the model's
            : new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        // The MLP gate of layer 0 stands for the decoder's matrices (all share one type in the files we write).
        WeightsType = checkpoint.Weights.Require(WeightNames.Llm(0, "ffn_gate.weight"), path).Tensor.Type.ToString();
        KvCacheTokens = model.Cache.CapacityTokens;
        KvCacheBytes = model.Cache.TotalBlocks * model.Cache.Shape.BytesPerBlock;
    }

    /// <summary>Opens <paramref name="path"/> with <paramref name="threads"/> threads and a cache of at least <paramref name="kvTokens"/> tokens.</summary>
    public static BenchModel Open(string path, int threads, int kvTokens, FileResidency residency = FileResidency.Mapped)
    {
        var checkpoint = Checkpoint.Open(path, residency);
        try
        {
            var model = new Qwen2Model(checkpoint, new Qwen2Options { Threads = threads, KvCacheTokens = kvTokens });
            return new BenchModel(checkpoint, model, path);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public Qwen2Model Model { get; }
    public string Path { get; }
    public long FileBytes { get; }
    public string WeightsType { get; }
    public int KvCacheTokens { get; }
    public long KvCacheBytes { get; }

    public void Dispose()
    {
        Model.Dispose();
        _checkpoint.Dispose();
    }
}
