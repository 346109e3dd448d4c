using System.Globalization;
using MiniCPM.Engine;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Configuration;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Safetensors;

namespace MiniCPM.Cli;

/// <summary>`minicpm info PATH`: what a GGUF file, safetensors file or HF folder holds, and how the engine reads it.</summary>
internal static class InfoCommand
{
    private const int EdgeTensors = 5;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length != 1)
        {
            error.WriteLine("usage: minicpm info <file-or-folder>");
            return 2;
        }
        var path = args[0];
        try
        {
            var format = CheckpointFiles.Detect(path);
            using var tensors = CheckpointFiles.OpenTensors(path, format);
            output.WriteLine($"source:       {Path.GetFullPath(path)}");
            output.WriteLine($"format:       {DescribeFormat(tensors)}");
            WriteMetadata(tensors, output);

            ModelConfig? config = null;
            try
            {
                config = Checkpoint.ReadConfig(path, tensors);
            }
            catch (ModelFormatException e)
            {
                output.WriteLine($"config:       not usable: {e.Message}");
            }
            if (config is not null) WriteConfig(config, output);

            WriteTensors(tensors, output);
            if (config is not null) WriteWeightMap(Checkpoint.MapWeights(tensors, config), output);
            return 0;
        }
        catch (ModelFormatException e)
        {
            error.WriteLine($"minicpm info: {e.Message}");
            return 1;
        }
    }

    private static string DescribeFormat(ITensorFile tensors) => tensors switch
    {
        GgufFile g => $"GGUF v{g.Version}, alignment {g.Alignment}, {g.Metadata.Count} metadata keys, data at byte {g.DataStart}",
        SafetensorsFile s => $"safetensors, header {s.HeaderLength} bytes",
        ShardedSafetensors sh => $"safetensors checkpoint in {sh.Shards.Count} shard(s)",
        _ => tensors.GetType().Name,
    };

    private static void WriteMetadata(ITensorFile tensors, TextWriter output)
    {
        if (tensors is GgufFile gguf)
        {
            output.WriteLine($"architecture: {gguf.Architecture ?? "(none)"}");
            output.WriteLine("metadata:");
            foreach (var (key, value) in gguf.Metadata) output.WriteLine($"  {key} = {value}");
        }
        else if (tensors is SafetensorsFile { Metadata.Count: > 0 } st)
        {
            output.WriteLine("metadata:");
            foreach (var (key, value) in st.Metadata) output.WriteLine($"  {key} = {value}");
        }
    }

    private static void WriteConfig(ModelConfig config, TextWriter output)
    {
        output.WriteLine($"model:        {FamilyName(config.Family)}");
        if (config.Llm is { } l)
            output.WriteLine($"  llm:        hidden {l.HiddenSize}, layers {l.Layers}, heads {l.Heads} (kv {l.KvHeads}, head_dim {l.HeadDim}), ffn {l.IntermediateSize}, vocab {l.VocabSize}, rope θ {(float)l.RopeTheta:G}, rms eps {(float)l.RmsNormEps:G}, context {l.MaxPositions}, lm_head {(l.TieWordEmbeddings ? "tied" : "untied")}");
        if (config.Vision is { } v)
            output.WriteLine($"  vision:     SigLIP hidden {v.HiddenSize}, layers {v.LayersUsed} of {v.Layers}, heads {v.Heads}, ffn {v.IntermediateSize}, patch {v.PatchSize}, positions {v.PositionGridSide}×{v.PositionGridSide}, {v.Activation}, ln eps {(float)v.LayerNormEps:G}");
        if (config.Resampler is { } r)
            output.WriteLine($"  resampler:  {r.Queries} queries, {r.KvDim} → {r.EmbedDim}, {r.Heads} heads × {r.HeadDim}");
        if (config.Slicing is { } s)
            output.WriteLine($"  slicing:    max {s.MaxSliceNums} slices, scale resolution {s.ScaleResolution}, image ids {(s.UseImageId ? "on" : "off")}");
        if (config.Audio is { } a)
        {
            output.WriteLine($"  audio:      Whisper encoder d_model {a.DModel}, layers {a.Layers}, heads {a.Heads} × {a.HeadDim}, ffn {a.FfnDim}, {a.MelBins} mel bins, {a.MaxSourcePositions} positions (30 s pieces)");
            output.WriteLine($"              attention {(a.ChunkLengthSeconds > 0 ? $"block-causal chunks of {a.ChunkLengthSeconds:G} s" : "full")}; projection linear-ReLU-linear, average pool {a.PoolStep} → {AudioTokenCount.Tokens(16000, a.PoolStep)} tokens per second");
        }
        if (config.HasTts)
            output.WriteLine("  tts:        configured (MiniCPM-o speech output); not implemented: any tts.* weights are present but unused");
        if (config.Quantization is { } q)
            output.WriteLine($"  quantized:  {q.Describe()}");
    }

    private static void WriteTensors(ITensorFile tensors, TextWriter output)
    {
        var all = tensors.Tensors;
        long totalBytes = all.Sum(t => t.ByteLength);
        output.WriteLine($"tensors:      {all.Count}, {FormatBytes(totalBytes)}");
        foreach (var group in all.GroupBy(t => t.Type).OrderBy(g => g.Key))
            output.WriteLine($"  {group.Key,-6} {group.Count(),6} tensors  {FormatBytes(group.Sum(t => t.ByteLength)),12}");
        if (all.Count == 0) return;
        int edge = Math.Min(EdgeTensors, all.Count);
        output.WriteLine(all.Count <= 2 * EdgeTensors ? "all tensors:" : $"first {edge} tensors:");
        foreach (var t in all.Take(all.Count <= 2 * EdgeTensors ? all.Count : edge)) WriteTensor(t, output);
        if (all.Count > 2 * EdgeTensors)
        {
            output.WriteLine($"last {edge} tensors:");
            foreach (var t in all.Skip(all.Count - edge)) WriteTensor(t, output);
        }
    }

    private static void WriteTensor(TensorInfo t, TextWriter output) =>
        output.WriteLine($"  {t.Name,-52} {t.Type,-6} {t.ShapeText}");

    private static void WriteWeightMap(Engine.Weights.WeightMap map, TextWriter output)
    {
        output.WriteLine($"weights:      {map.Weights.Count} mapped to engine names, {map.Ignored.Count} ignored, {map.Unmapped.Count} not recognised");
        foreach (var group in map.Weights.Where(w => w.Quantized is not null).GroupBy(w => w.Quantized!.Describe()))
            output.WriteLine($"  int4 {group.Count()}: {group.Key}");
        foreach (var group in map.Ignored.GroupBy(i => i.Reason))
            output.WriteLine($"  ignored {group.Count()}: {group.Key}");
        foreach (var t in map.Unmapped.Take(20)) output.WriteLine($"  not recognised: {t.Name} {t.ShapeText}");
        if (map.Unmapped.Count > 20) output.WriteLine($"  … and {map.Unmapped.Count - 20} more");
    }

    private static string FamilyName(ModelFamily family) => family switch
    {
        ModelFamily.MiniCPMV26 => "MiniCPM-V 2.6",
        ModelFamily.MiniCPMO26 => "MiniCPM-o 2.6",
        ModelFamily.Qwen2 => "Qwen2 language model",
        ModelFamily.VisionProjector => "MiniCPM-V vision projector (SigLIP + resampler)",
        _ => family.ToString(),
    };

    internal static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {units[unit]}");
    }
}
