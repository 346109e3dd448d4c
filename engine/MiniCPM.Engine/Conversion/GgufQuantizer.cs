using System.Diagnostics;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Conversion;

/// <summary>What <see cref="GgufQuantizer.Quantize"/> did.</summary>
public sealed record QuantizeResult(
    int Tensors, int Quantized, int Fallbacks, long InputBytes, long OutputBytes, TimeSpan Elapsed,
    IReadOnlyDictionary<TensorType, int> TensorsByType);

/// <summary>
/// Quantizes a text model the way llama.cpp's llama-quantize does without an importance matrix: the same tensors are
/// quantized (matrices; norms, biases and 1-D tensors keep their type), the same per-tensor types for each file
/// type (<see cref="LlamaQuantTypeChoice"/>), the same bytes (ggml's reference quantizers, <see cref="BlockQuantizer"/>),
/// the same tensor order and metadata (the source's keys, then general.quantization_version and general.file_type).
/// Streamed: one tensor at a time is read (memory-mapped), converted a chunk of rows at a time on all threads, and
/// written, so a 7B model never sits in memory.
/// </summary>
public static class GgufQuantizer
{
    // Rows are converted in chunks of about this many elements (bounded memory: ~16 MB of floats per chunk).
    private const long ChunkElements = 4 << 20;

    /// <summary>
    /// Quantizes <paramref name="input"/> (a GGUF text model with F32/F16/BF16 weights, or an HF folder / safetensors
    /// file, which is first converted to a temporary GGUF next to <paramref name="output"/>) into <paramref name="output"/>.
    /// </summary>
    /// <exception cref="ModelFormatException">The input is malformed, has no language model, or holds already-quantized
    /// weights that this scheme would have to re-quantize (named in the message).</exception>
    public static QuantizeResult Quantize(string input, string output, QuantizationScheme scheme, int threads = 0)
    {
        if (Directory.Exists(input) || !IsGguf(input))
            return QuantizeCheckpoint(input, output, scheme, threads);
        using var source = GgufFile.Open(input);
        return Quantize(source, output, scheme, threads);
    }

    /// <summary>Quantizes an open GGUF file into <paramref name="output"/>.</summary>
    public static QuantizeResult Quantize(GgufFile source, string output, QuantizationScheme scheme, int threads = 0)
    {
        var clock = Stopwatch.StartNew();
        string arch = source.Architecture
            ?? throw new ModelFormatException(source.SourcePath, "general.architecture is missing: not a llama.cpp model file");
        if (arch == "clip")
            throw new ModelFormatException(source.SourcePath, "this is a vision projector (mmproj) file; quantize the text model (llama.cpp keeps mmproj files in F16)");
        int layers = source.Require($"{arch}.block_count", v => v.AsInt32());
        int heads = source.Get($"{arch}.attention.head_count") is { } h ? h.AsInt32() : 1;
        int kvHeads = source.Get($"{arch}.attention.head_count_kv") is { } kv ? kv.AsInt32() : heads;
        if (Path.GetFullPath(output) == Path.GetFullPath(source.SourcePath))
            throw new ArgumentException("the output would overwrite the input", nameof(output));

        // Quantized source tensors are copied as they are: refuse damaged ones (NaN/Inf block scales) as llama.cpp does.
        QuantizedScaleCheck.RequireFiniteScales(source);

        var tensors = source.Tensors.OrderBy(t => t.Name, Comparer<string>.Create(LlamaQuantTypeChoice.LlamaOrder)).ToList();
        var choice = new LlamaQuantTypeChoice(scheme, layers, heads, Math.Max(kvHeads, 1),
            hasOutputTensor: tensors.Any(t => t.Name == "output.weight"),
            attentionVCount: LlamaQuantTypeChoice.CountAttentionV(tensors.Select(t => t.Name)));

        var writer = new GgufWriter();
        foreach (var (key, value) in source.Metadata)
            if (key is not ("general.quantization_version" or "general.file_type")) writer.AddMetadata(key, value);
        writer.AddMetadata("general.quantization_version", GgufValue.FromUInt32(2));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(scheme.FileType));

        var byType = new Dictionary<TensorType, int>();
        int quantized = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        foreach (var tensor in tensors)
        {
            var target = tensor.Type;
            if (LlamaQuantTypeChoice.AllowsQuantization(tensor.Name, tensor.Shape))
                target = choice.Choose(tensor.Name, tensor.Shape.Length == 0 ? 1 : tensor.Shape[^1]);
            byType[target] = byType.GetValueOrDefault(target) + 1;

            var info = tensor;
            if (target == tensor.Type)
            {
                writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, stream => CopyBytes(source, info, stream));
                continue;
            }
            if (!(tensor.Type is TensorType.F32 or TensorType.F16 or TensorType.BF16))
                throw new ModelFormatException(source.SourcePath,
                    $"is already {tensor.Type}; quantizing it to {target} would re-quantize (quantize from an F32/F16/BF16 file)", tensor.Name);
            quantized++;
            writer.AddTensor(tensor.Name, target, tensor.Shape, stream => Convert(source, info, target, stream, options));
        }

        string partial = output + ".partial";
        writer.WriteTo(partial);
        File.Move(partial, output, overwrite: true);
        return new QuantizeResult(tensors.Count, quantized, choice.Fallbacks, new FileInfo(source.SourcePath).Length,
            new FileInfo(output).Length, clock.Elapsed, byType);
    }

    /// <summary>Converts rows from the source type to <paramref name="target"/>, a chunk at a time, rows in parallel.</summary>
    private static unsafe void Convert(GgufFile source, TensorInfo tensor, TensorType target, Stream stream, ParallelOptions options)
    {
        long rowLength = tensor.Shape.Length == 0 ? 1 : tensor.Shape[^1];
        long rows = rowLength == 0 ? 0 : tensor.ElementCount / rowLength;
        long sourceRowBytes = tensor.Type.RowBytes(rowLength)!.Value;
        long targetRowBytes = target.RowBytes(rowLength)!.Value;
        int rowsPerChunk = (int)Math.Clamp(ChunkElements / Math.Max(rowLength, 1), 1, Math.Max(rows, 1));
        var encoded = new byte[rowsPerChunk * targetRowBytes];
        var data = source.GetData(tensor);

        for (long first = 0; first < rows; first += rowsPerChunk)
        {
            int count = (int)Math.Min(rowsPerChunk, rows - first);
            long chunkStart = first;
            Parallel.For(0, count, options, () => new float[rowLength], (r, _, floats) =>
            {
                var row = data.Slice((chunkStart + r) * sourceRowBytes, sourceRowBytes).AsSpan();
                Dequantizer.RowToFloat(tensor.Type, row, floats);
                BlockQuantizer.Quantize(target, floats, encoded.AsSpan((int)(r * targetRowBytes), (int)targetRowBytes));
                return floats;
            }, _ => { });
            stream.Write(encoded, 0, (int)(count * targetRowBytes));
        }
    }

    private static void CopyBytes(GgufFile source, TensorInfo tensor, Stream stream)
    {
        var data = source.GetData(tensor);
        const long Step = 1 << 24;
        for (long at = 0; at < data.Length; at += Step)
            stream.Write(data.Slice(at, Math.Min(Step, data.Length - at)).AsSpan());
    }

    /// <summary>HF folder or safetensors: convert the text model to a temporary GGUF in its own float type, then quantize that.</summary>
    private static QuantizeResult QuantizeCheckpoint(string input, string output, QuantizationScheme scheme, int threads)
    {
        string temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, $".{Path.GetFileName(output)}.source.gguf");
        try
        {
            using (var checkpoint = Checkpoint.Open(input))
            {
                if (checkpoint.Config.Llm is null)
                    throw new ModelFormatException(input, "the checkpoint has no language model to quantize");
                var embedding = checkpoint.Weights.Require(Weights.WeightNames.TokenEmbedding, input);
                var floatType = embedding.Tensor.Type is TensorType.F16 or TensorType.BF16 ? embedding.Tensor.Type : TensorType.F32;
                GgufExport.WriteTextModel(checkpoint, temporary, floatType);
            }
            using var source = GgufFile.Open(temporary);
            return Quantize(source, output, scheme, threads);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static bool IsGguf(string path)
    {
        if (!File.Exists(path)) return false;
        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenRead(path);
        return file.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
    }
}
