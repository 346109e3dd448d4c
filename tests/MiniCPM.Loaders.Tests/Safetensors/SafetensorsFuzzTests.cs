using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Safetensors;
using Xunit.Abstractions;

namespace MiniCPM.Loaders.Tests.Safetensors;

/// <summary>
/// Seeded mutations of a small valid file. The only allowed outcomes are a file that opens and whose every tensor can
/// be read within bounds, or a <see cref="ModelFormatException"/>; anything else (index out of range, overflow, stack
/// overflow, out of memory) fails the test with the seed that reproduces it.
/// </summary>
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private const int Cases = 6000;

    private static readonly string[] Dtypes =
        ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "Q4_0", "", "f32"];

    private static readonly string[] Numbers =
        ["0", "1", "2", "-1", "7", "8", "24", "4294967296", "9223372036854775807", "9223372036854775808",
         "18446744073709551615", "1e3", "1.5", "-0", "99999999999999999999999"];

    private static readonly byte[] JsonBytes = Encoding.ASCII.GetBytes("{}[]\",:-.0123456789eE \\u\0");

    private static byte[] BaseFile()
    {
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        var random = new Random(1);
        void Add(string name, TensorType type, long[] shape)
        {
            var bytes = new byte[type.TensorBytes(shape)!.Value];
            random.NextBytes(bytes);
            writer.AddTensor(name, type, shape, bytes);
        }
        Add("w.f32", TensorType.F32, [2, 3]);
        Add("w.bf16", TensorType.BF16, [4]);
        Add("scalar", TensorType.I64, []);
        Add("empty", TensorType.U8, [0, 5]);
        Add("mask", TensorType.Bool, [3]);
        Add("ids", TensorType.I16, [2, 2]);
        Add("table", TensorType.F32, [8, 32]); // most of the data, so that data-byte flips usually stay valid
        using var folder = new TempFolder();
        writer.Write(folder.File("base.safetensors"));
        return File.ReadAllBytes(folder.File("base.safetensors"));
    }

    [Fact]
    public void Mutated_files_open_cleanly_or_fail_with_a_format_error()
    {
        byte[] original = BaseFile();
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        int opened = 0, rejected = 0;
        var openedByKind = new int[6];

        for (int seed = 0; seed < Cases; seed++)
        {
            var random = new Random(seed);
            int kind = seed % 6;
            byte[] file = Mutate(original, headerLength, kind, random);
            try
            {
                using var st = SafetensorsFile.OpenBytes("fuzz", file);
                TouchEverything(st, file.Length);
                opened++;
                openedByKind[kind]++;
            }
            catch (ModelFormatException e)
            {
                Assert.Equal("fuzz", e.FilePath);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed} (mutation kind {kind}) threw {e.GetType().Name} instead of ModelFormatException: {e}");
            }
        }

        output.WriteLine($"{opened} opened, {rejected} rejected; opened by kind: {string.Join(", ", openedByKind)}");
        Assert.Equal(Cases, opened + rejected);
        // The mutations must reach both outcomes, otherwise the fuzzer tests nothing: data-byte flips stay valid,
        // and plenty of header mutations break it.
        Assert.True(opened > 500, $"only {opened} mutated files opened");
        Assert.True(rejected > 2000, $"only {rejected} mutated files were rejected");
    }

    private static void TouchEverything(SafetensorsFile st, long fileLength)
    {
        long covered = 0;
        foreach (var t in st.Tensors)
        {
            Assert.Equal(t.Type.TensorBytes(t.Shape), t.ByteLength);
            Assert.InRange(t.FileOffset, st.DataStart, fileLength);
            var data = st.GetData(t);
            Assert.Equal(t.ByteLength, data.Length);
            int checksum = 0;
            foreach (byte b in data.AsSpan()) checksum += b; // reads every byte of the view
            Assert.True(checksum >= 0);
            covered += t.ByteLength;
        }
        Assert.Equal(fileLength - st.DataStart, covered); // accepted files are tiled exactly
    }

    private static byte[] Mutate(byte[] original, int headerLength, int kind, Random random)
    {
        byte[] file = (byte[])original.Clone();
        switch (kind)
        {
            case 0: // byte flips inside the JSON header
                for (int i = random.Next(1, 5); i > 0; i--) file[8 + random.Next(headerLength)] ^= (byte)(1 << random.Next(8));
                return file;
            case 1: // byte flips anywhere: length field, header or data
                for (int i = random.Next(1, 5); i > 0; i--) file[random.Next(file.Length)] ^= (byte)random.Next(1, 256);
                return file;
            case 2: // a random header length value
                ulong n = random.Next(5) switch
                {
                    0 => (ulong)random.NextInt64(long.MinValue, long.MaxValue),
                    1 => (ulong)(headerLength + random.Next(-16, 17)),
                    2 => (ulong)random.Next(file.Length + 16),
                    3 => 100_000_000UL + (ulong)random.Next(-1, 2),
                    _ => (ulong)random.Next(9),
                };
                BinaryPrimitives.WriteUInt64LittleEndian(file, n);
                return file;
            case 3: // truncation, or extra bytes at the end
                if (random.Next(3) > 0) return file[..random.Next(file.Length)];
                var longer = new byte[file.Length + random.Next(1, 17)];
                file.CopyTo(longer, 0);
                random.NextBytes(longer.AsSpan(file.Length));
                return longer;
            case 4: // character-level edits of the JSON text, header length kept consistent
                return WithHeader(original, headerLength, EditText(Encoding.UTF8.GetBytes(HeaderText(original, headerLength)), random), random);
            default: // token-level edits: numbers and dtype strings replaced by interesting values
                string text = HeaderText(original, headerLength);
                text = random.Next(2) == 0
                    ? ReplaceRandomMatch(text, @"-?\d+", Numbers[random.Next(Numbers.Length)], random)
                    : ReplaceRandomMatch(text, "\"dtype\":\"[A-Z0-9_]+\"", $"\"dtype\":\"{Dtypes[random.Next(Dtypes.Length)]}\"", random);
                return WithHeader(original, headerLength, Encoding.UTF8.GetBytes(text), random);
        }
    }

    private static string HeaderText(byte[] file, int headerLength) => Encoding.UTF8.GetString(file, 8, headerLength);

    private static byte[] EditText(byte[] json, Random random)
    {
        var list = new List<byte>(json);
        for (int edits = random.Next(1, 4); edits > 0 && list.Count > 0; edits--)
        {
            int at = random.Next(list.Count);
            switch (random.Next(4))
            {
                case 0: list.RemoveAt(at); break;
                case 1: list.Insert(at, JsonBytes[random.Next(JsonBytes.Length)]); break;
                case 2: list[at] = JsonBytes[random.Next(JsonBytes.Length)]; break;
                default:
                    int length = Math.Min(random.Next(1, 41), list.Count - at);
                    list.InsertRange(random.Next(list.Count), list.GetRange(at, length));
                    break;
            }
        }
        return list.ToArray();
    }

    private static string ReplaceRandomMatch(string text, string pattern, string replacement, Random random)
    {
        var matches = Regex.Matches(text, pattern);
        if (matches.Count == 0) return text;
        var m = matches[random.Next(matches.Count)];
        return string.Concat(text.AsSpan(0, m.Index), replacement, text.AsSpan(m.Index + m.Length));
    }

    /// <summary>The original data behind a new header with a matching length field and 0..7 padding spaces.</summary>
    private static byte[] WithHeader(byte[] original, int oldHeaderLength, byte[] json, Random random)
    {
        int padding = random.Next(8);
        var data = original.AsSpan(8 + oldHeaderLength);
        var file = new byte[8 + json.Length + padding + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(json.Length + padding));
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padding).Fill((byte)' ');
        data.CopyTo(file.AsSpan(8 + json.Length + padding));
        return file;
    }
}
