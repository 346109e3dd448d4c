using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Tests.Gguf.Builders;
using Xunit.Abstractions;

namespace MiniCPM.Loaders.Tests.Gguf;

/// <summary>
/// Seeded mutation fuzzing of valid files: whatever the bytes, opening must either succeed (and then every value
/// and every tensor's first and last byte must be readable) or fail with <see cref="ModelFormatException"/> —
/// never another exception, a hang, or an allocation out of proportion to the file.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 6000;

    // Values that stress length and count fields: zero, small, just past the file, sign bits, all ones.
    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 63, 64, 255, 256, 1000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        1UL << 32, 1UL << 60, 1UL << 62, long.MaxValue, 1UL << 63, ulong.MaxValue,
    ];

    private static List<byte[]> Seeds()
    {
        var tokenizerLike = new GgufWriter()
            .AddMetadata("general.architecture", GgufValue.FromString("qwen2"))
            .AddMetadata("tokenizer.ggml.tokens", GgufValue.FromArray(Enumerable.Range(0, 40).Select(i => $"tok{i}").ToArray()))
            .AddMetadata("tokenizer.ggml.token_type", GgufValue.FromArray(Enumerable.Range(0, 40).Select(i => i % 6 + 1).ToArray()))
            .AddMetadata("qwen2.rope.freq_base", GgufValue.FromFloat32(1e6f))
            .AddTensor("token_embd.weight", TensorType.Q8_0, [2, 32], SampleGguf.Bytes(68, seed: 1))
            .AddTensor("output_norm.weight", TensorType.F32, [3], SampleGguf.Bytes(12, seed: 2));
        var tensorsOnly = new GgufWriter()
            .AddMetadata("general.alignment", GgufValue.FromUInt32(16))
            .AddTensor("a", TensorType.F16, [4], SampleGguf.Bytes(8, seed: 3))
            .AddTensor("b", TensorType.Q4_K, [256], SampleGguf.Bytes(144, seed: 4))
            .AddTensor("c", TensorType.I32, [1, 2, 1, 2], SampleGguf.Bytes(16, seed: 5));
        return [SampleGguf.WriteToBytes(SampleGguf.Writer()), SampleGguf.WriteToBytes(tokenizerLike), SampleGguf.WriteToBytes(tensorsOnly)];
    }

    [Fact]
    public void MutatedFilesOpenOrFailWithAFormatError()
    {
        var seeds = Seeds();
        var random = new Random(20240611);
        int accepted = 0, rejected = 0;
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            var seed = seeds[iteration % seeds.Count];
            var bytes = Mutate(seed, random);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var file = GgufFile.FromBytes(bytes, "fuzz.gguf");
                TouchEverything(file);
                accepted++;
            }
            catch (ModelFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"iteration {iteration}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
            // Decoded objects cost a small multiple of the bytes that encode them; a count trusted before being
            // checked would show up here as megabytes.
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 256 * 1024 + 40L * bytes.Length, $"iteration {iteration}: {allocated} bytes allocated for a {bytes.Length}-byte file");
        }
        output.WriteLine($"{Iterations} mutated files: {accepted} opened, {rejected} refused");
        // Both outcomes must occur, or the mutations are not exercising the reader.
        Assert.True(accepted > Iterations / 50, $"only {accepted} mutated files opened");
        Assert.True(rejected > Iterations / 2, $"only {rejected} mutated files were refused");
    }

    private static unsafe void TouchEverything(GgufFile file)
    {
        foreach (var (_, value) in file.Metadata)
        {
            _ = value.ToString();
            _ = value.GetHashCode();
            if (value.Type.IsInteger()) _ = value.AsDouble();
        }
        foreach (var tensor in file.Tensors)
        {
            Assert.True(tensor.ByteLength >= 0 && tensor.FileOffset >= file.DataStart);
            var data = file.GetData(tensor);
            if (data.Length == 0) continue;
            _ = data.Pointer[0];
            _ = data.Pointer[data.Length - 1];
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = seed.ToList();
        int mutations = 1 + random.Next(3);
        for (int m = 0; m < mutations && bytes.Count > 0; m++)
        {
            // Most fields that matter are in the header, so aim there two times out of three.
            int headerEnd = Math.Min(bytes.Count, 600);
            int position = random.Next(3) < 2 ? random.Next(headerEnd) : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0: // flip a few bits
                    for (int i = 0; i < 1 + random.Next(4) && position + i < bytes.Count; i++)
                        bytes[position + i] ^= (byte)(1 + random.Next(255));
                    break;
                case 1: // overwrite a u64 with an interesting or random value
                    Overwrite(bytes, position, random.Next(2) == 0 ? Interesting[random.Next(Interesting.Length)] : (ulong)random.NextInt64(), 8);
                    break;
                case 2: // overwrite a u32 (type ids, n_dims, version)
                    Overwrite(bytes, position, random.Next(2) == 0 ? Interesting[random.Next(Interesting.Length)] : (ulong)random.Next(64), 4);
                    break;
                case 3: // truncate
                    bytes.RemoveRange(position, bytes.Count - position);
                    break;
                case 4: // insert random bytes
                    var inserted = new byte[1 + random.Next(16)];
                    random.NextBytes(inserted);
                    bytes.InsertRange(position, inserted);
                    break;
                default: // delete a range
                    bytes.RemoveRange(position, Math.Min(bytes.Count - position, 1 + random.Next(16)));
                    break;
            }
        }
        return [.. bytes];
    }

    private static void Overwrite(List<byte> bytes, int position, ulong value, int width)
    {
        for (int i = 0; i < width && position + i < bytes.Count; i++)
            bytes[position + i] = (byte)(value >> (8 * i));
    }
}
