using MiniCPM.Loaders.Gguf;
using MiniCPM.Loaders.Tests.Gguf.Builders;

namespace MiniCPM.Loaders.Tests.Gguf;

/// <summary>
/// One test per validation rule: hand-built bytes that break exactly that rule must be refused with a
/// <see cref="ModelFormatException"/> whose message names the file, the key or tensor at fault, and an offset.
/// </summary>
public class ValidationTests
{
    private const string FileName = "bad.gguf";
    private const uint F32 = 0, Q8_0 = 8;

    private static ModelFormatException Reject(GgufBytes bytes) => Reject(bytes.ToArray());

    private static ModelFormatException Reject(byte[] bytes)
    {
        var e = Assert.Throws<ModelFormatException>(() => GgufFile.FromBytes(bytes, FileName).Dispose());
        Assert.StartsWith(FileName, e.Message);
        Assert.NotNull(e.Offset);
        Assert.Contains($"offset {e.Offset}", e.Message);
        return e;
    }

    private static void Accept(GgufBytes bytes) => GgufFile.FromBytes(bytes.ToArray(), "good.gguf").Dispose();

    /// <summary>A file with one tensor table row and, when needed, enough data bytes after the aligned header.</summary>
    private static GgufBytes OneTensor(string name, ulong[] ne, uint type, ulong offset, int dataBytes = 0)
    {
        var b = GgufBytes.Header(3, 1, 0).TensorInfo(name, ne, type, offset).PadTo(32);
        return b.Raw(new byte[dataBytes]);
    }

    [Fact]
    public void WrongMagic()
    {
        var e = Reject(new GgufBytes().Raw("GGML"u8.ToArray()).U32(3).U64(0).U64(0));
        Assert.Contains("magic", e.Message);
        Assert.Equal(0, e.Offset);
    }

    [Theory]
    [InlineData(1u, "version 1")]
    [InlineData(0u, "unsupported GGUF version 0")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "byte-swapped")]
    public void UnsupportedVersions(uint version, string expected)
    {
        var e = Reject(GgufBytes.Header(version, 0, 0));
        Assert.Contains(expected, e.Message);
        Assert.Equal(4, e.Offset);
    }

    [Fact]
    public void EmptyAndMissingFilesOnDisk()
    {
        var path = Path.Combine(Path.GetTempPath(), $"minicpm-gguf-{Guid.NewGuid():N}.gguf");
        try
        {
            File.WriteAllBytes(path, []);
            var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
            Assert.Contains("truncated", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
    }

    [Fact]
    public void HugeStringLengthInAKey()
    {
        var e = Reject(GgufBytes.Header(3, 0, 1).U64(1UL << 60).Raw(new byte[16]));
        Assert.Contains("metadata key #0", e.Message);
        Assert.Contains($"string length {1UL << 60}", e.Message);
    }

    [Fact]
    public void HugeStringLengthInAValue()
    {
        var e = Reject(GgufBytes.Header(3, 0, 1).Str("general.name").U32(8).U64(ulong.MaxValue));
        Assert.Contains("'general.name'", e.Message);
        Assert.Contains("string length", e.Message);
    }

    [Theory]
    [InlineData(0u, 1UL << 62)]   // u8 elements
    [InlineData(8u, 100UL)]       // strings: 100 × at least 8 bytes cannot fit in what is left
    [InlineData(9u, 1000UL)]      // arrays: at least 12 bytes each
    public void ArrayCountsLargerThanTheFile(uint elementType, ulong count)
    {
        var e = Reject(GgufBytes.Header(3, 0, 1).Str("big").U32(9).U32(elementType).U64(count).Raw(new byte[40]));
        Assert.Contains("'big'", e.Message);
        Assert.Contains("cannot fit", e.Message);
    }

    [Fact]
    public void ImpossibleTensorCount()
    {
        var e = Reject(GgufBytes.Header(3, 1UL << 40, 0));
        Assert.Contains("tensor count", e.Message);
    }

    [Fact]
    public void ImpossibleMetadataCount()
    {
        var e = Reject(GgufBytes.Header(3, 0, ulong.MaxValue));
        Assert.Contains("metadata key/value count", e.Message);
    }

    [Fact]
    public void TooManyDimensions()
    {
        var e = Reject(OneTensor("t", [1, 1, 1, 1, 1], F32, 0, 4));
        Assert.Equal("t", e.Tensor);
        Assert.Contains("5 dimensions", e.Message);
    }

    [Fact]
    public void NegativeDimension()
    {
        var e = Reject(OneTensor("t", [4, ulong.MaxValue], F32, 0, 16));
        Assert.Contains("tensor 't'", e.Message);
        Assert.Contains("ne1 = -1 is negative", e.Message);
    }

    [Fact]
    public void ElementCountOverflow()
    {
        var e = Reject(OneTensor("t", [1UL << 32, 1UL << 32], F32, 0));
        Assert.Contains("tensor 't'", e.Message);
        Assert.Contains("element count", e.Message);
    }

    [Fact]
    public void ByteSizeOverflow()
    {
        // 2^61 elements are countable, but at 4 bytes each the size needs 2^63 bytes.
        var e = Reject(OneTensor("t", [1UL << 61], F32, 0));
        Assert.Contains("tensor 't'", e.Message);
        Assert.Contains("byte size", e.Message);
    }

    [Fact]
    public void RowLengthNotAWholeNumberOfBlocks()
    {
        var e = Reject(OneTensor("q", [33], Q8_0, 0, 64));
        Assert.Contains("tensor 'q'", e.Message);
        Assert.Contains("ne0 = 33 is not a multiple of the Q8_0 block size 32", e.Message);
    }

    [Fact]
    public void OffsetNotAligned()
    {
        var e = Reject(OneTensor("t", [1], F32, offset: 4, dataBytes: 64));
        Assert.Contains("tensor 't'", e.Message);
        Assert.Contains("not a multiple of the alignment 32", e.Message);
    }

    [Fact]
    public void DataPastTheEndOfTheFile()
    {
        var e = Reject(OneTensor("t", [16], F32, offset: 0, dataBytes: 63)); // needs 64
        Assert.Contains("tensor 't'", e.Message);
        Assert.Contains("past the end of the file", e.Message);
        Accept(OneTensor("t", [16], F32, offset: 0, dataBytes: 64));
    }

    [Fact]
    public void OverlappingTensors()
    {
        var b = GgufBytes.Header(3, 2, 0)
            .TensorInfo("a", [16], F32, 0)   // [0, 64)
            .TensorInfo("b", [8], F32, 32)   // [32, 64)
            .PadTo(32).Raw(new byte[64]);
        var e = Reject(b);
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("overlaps tensor 'a'", e.Message);
    }

    [Fact]
    public void DuplicateTensorNames()
    {
        var b = GgufBytes.Header(3, 2, 0).TensorInfo("w", [8], F32, 0).TensorInfo("w", [8], F32, 32).PadTo(32).Raw(new byte[64]);
        var e = Reject(b);
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("duplicate tensor name", e.Message);
    }

    [Fact]
    public void DuplicateKeys()
    {
        var e = Reject(GgufBytes.Header(3, 0, 2).KvU32("k", 1).KvU32("k", 2));
        Assert.Contains("duplicate metadata key 'k'", e.Message);
    }

    [Fact]
    public void InvalidUtf8Anywhere()
    {
        byte[] bad = [0x61, 0xC3, 0x28]; // 0xC3 must be followed by a continuation byte
        Assert.Contains("metadata key #0", Reject(GgufBytes.Header(3, 0, 1).RawStr(bad).U32(4).U32(1)).Message);
        Assert.Contains("'name'", Reject(GgufBytes.Header(3, 0, 1).Str("name").U32(8).RawStr(bad)).Message);
        Assert.Contains("'toks'", Reject(GgufBytes.Header(3, 0, 1).Str("toks").U32(9).U32(8).U64(2).Str("ok").RawStr(bad)).Message);
        var tensor = GgufBytes.Header(3, 1, 0).RawStr(bad).U32(1).U64(1).U32(F32).U64(0).PadTo(32).Raw(new byte[4]);
        var e = Reject(tensor);
        Assert.Contains("tensor #0 name", e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    /// <summary>A top-level array value whose innermost array (of one u32) sits <paramref name="depth"/> levels deep.</summary>
    private static GgufBytes NestedArrays(int depth)
    {
        var b = GgufBytes.Header(3, 0, 1).Str("deep").U32(9);
        for (int level = 1; level < depth; level++) b.U32(9).U64(1);
        return b.U32(4).U64(1).U32(7);
    }

    [Fact]
    public void ArraysNestedTooDeep()
    {
        Accept(NestedArrays(GgufValue.MaxArrayDepth));
        var e = Reject(NestedArrays(GgufValue.MaxArrayDepth + 1));
        Assert.Contains("'deep'", e.Message);
        Assert.Contains("nest deeper", e.Message);
        Reject(NestedArrays(10_000)); // no stack overflow: refused at the limit
    }

    [Theory]
    [InlineData(48u)]
    [InlineData(0u)]
    public void AlignmentNotAPowerOfTwo(uint alignment)
    {
        var e = Reject(GgufBytes.Header(3, 0, 1).KvU32("general.alignment", alignment));
        Assert.Contains("'general.alignment'", e.Message);
        Assert.Contains("power of two", e.Message);
    }

    [Fact]
    public void AlignmentOfTheWrongType()
    {
        var e = Reject(GgufBytes.Header(3, 0, 1).Str("general.alignment").U32(10).U64(64));
        Assert.Contains("'general.alignment' must be a u32", e.Message);
    }

    [Fact]
    public void TensorNamesMustBeShorterThan64Bytes()
    {
        Accept(OneTensor(new string('n', 63), [1], F32, 0, 4));
        var name = new string('n', 64);
        var e = Reject(OneTensor(name, [1], F32, 0, 4));
        Assert.Equal(name, e.Tensor);
        Assert.Contains("64 bytes", e.Message);
    }

    [Theory]
    [InlineData(16u, "IQ2_XXS")]
    [InlineData(4u, "Q4_2 (retired)")]
    [InlineData(29u, "IQ1_M")]
    [InlineData(1000u, "unknown")]
    public void UnsupportedTensorTypes(uint ggmlType, string typeName)
    {
        var e = Reject(OneTensor("w", [256], ggmlType, 0, 1024));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains($"ggml type id {ggmlType} ({typeName})", e.Message);
    }

    [Fact]
    public void UnknownValueTypes()
    {
        Assert.Contains("'k' has unknown value type 13", Reject(GgufBytes.Header(3, 0, 1).Str("k").U32(13).U32(0)).Message);
        Assert.Contains("'k': unknown array element type 13", Reject(GgufBytes.Header(3, 0, 1).Str("k").U32(9).U32(13).U64(0)).Message);
    }

    [Fact]
    public void TruncationAnywhereBeforeTheLastTensorByteIsRefused()
    {
        var bytes = SampleGguf.WriteToBytes(SampleGguf.Writer());
        long end;
        using (var whole = GgufFile.FromBytes(bytes, "whole.gguf"))
            end = whole.Tensors.Max(t => t.FileOffset + t.ByteLength);

        for (int length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes.AsSpan(0, length).ToArray();
            if (length < end)
            {
                Reject(prefix);
            }
            else
            {
                // Only the zero padding after the last tensor is missing; like llama.cpp, the file is usable.
                GgufFile.FromBytes(prefix, "cut.gguf").Dispose();
            }
        }
    }
}
