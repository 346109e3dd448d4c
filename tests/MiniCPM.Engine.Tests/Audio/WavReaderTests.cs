using System.Buffers.Binary;
using System.Text;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>WAV decoding of every supported encoding against the values written, and typed errors for bad files.</summary>
public class WavReaderTests
{
    private static readonly double[] Values = [0, 0.5, -0.5, 0.25, -1, 0.99, -0.125, 0.0625];

    public static TheoryData<WavFiles.Kind, bool, bool> Encodings()
    {
        var data = new TheoryData<WavFiles.Kind, bool, bool>();
        foreach (var kind in Enum.GetValues<WavFiles.Kind>())
        {
            data.Add(kind, false, false);
            data.Add(kind, true, false);
            data.Add(kind, false, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void DecodesEveryEncoding(WavFiles.Kind kind, bool extensible, bool bigEndian)
    {
        var clip = WavReader.Read(WavFiles.Write(Values, 1, 16000, kind, extensible, bigEndian));
        Assert.Equal(16000, clip.SampleRate);
        Assert.Equal(Values.Length, clip.Samples.Length);
        double step = Math.Pow(2, 1 - WavFiles.Bits(kind)); // one quantisation step of the integer encodings
        for (int i = 0; i < Values.Length; i++)
            Assert.True(Math.Abs(clip.Samples[i] - Values[i]) <= step / 2 + 1e-7, $"{kind} sample {i}: {clip.Samples[i]} vs {Values[i]}");
    }

    [Fact]
    public void ChannelsAreAveragedToMono()
    {
        // Three channels: frame f holds (a, b, c); mono is their mean.
        double[] interleaved = [0.5, 0.25, -0.75, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0, 0.75];
        var clip = WavReader.Read(WavFiles.Write(interleaved, 3, 44100, WavFiles.Kind.Float64));
        Assert.Equal(44100, clip.SampleRate);
        Assert.Equal([0f, (float)(1.0 / 3), 0.25f], clip.Samples);
    }

    [Fact]
    public void UnknownChunksAreSkippedAndFilesAndStreamsReadTheSame()
    {
        var list = Encoding.ASCII.GetBytes("LIST").Concat(new byte[] { 3, 0, 0, 0, 1, 2, 3, 0 }).ToArray(); // odd size + pad byte
        var bytes = WavFiles.Write(Values, 1, 22050, WavFiles.Kind.Pcm16, extraChunkBefore: list);
        var fromBytes = WavReader.Read(bytes);
        string path = Path.Combine(TestData.TempDirectory(), "a.wav");
        File.WriteAllBytes(path, bytes);
        Assert.Equal(fromBytes.Samples, WavReader.Read(path).Samples);
        Assert.Equal(path, WavReader.Read(path).Source);
    }

    private static InvalidAudioException Bad(byte[] bytes, WavReadLimits? limits = null) =>
        Assert.Throws<InvalidAudioException>(() => WavReader.Read(bytes, "test.wav", limits));

    [Fact]
    public void NonWavInputIsATypedError()
    {
        Assert.Contains("not a WAV file", Bad(Encoding.ASCII.GetBytes("ID3\u0004 this is an mp3, honest")).Message);
        Assert.Contains("not a WAV file", Bad([]).Message);
        var avi = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        Encoding.ASCII.GetBytes("AVI ").CopyTo(avi, 8);
        Assert.Contains("not WAVE", Bad(avi).Message);
        Assert.IsAssignableFrom<MiniCpmException>(Bad([]));
    }

    [Fact]
    public void TruncatedFilesAreTypedErrors()
    {
        var full = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        Assert.Contains("truncated", Bad(full[..^3]).Message);      // inside the data
        Assert.Contains("truncated", Bad(full[..30]).Message);      // inside the fmt chunk
        Assert.Contains("no data chunk", Bad(full[..36]).Message);  // ends after fmt
    }

    [Fact]
    public void ZeroLengthAudioIsATypedError()
    {
        Assert.Contains("zero-length", Bad(WavFiles.Write([], 1, 16000, WavFiles.Kind.Pcm16)).Message);
        Assert.Throws<InvalidAudioException>(() => new AudioClip([], 16000));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(999)]
    [InlineData(2_000_000_000)]
    public void AbsurdSampleRatesAreTypedErrors(int rate)
    {
        var bytes = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(24), rate);
        Assert.Contains("sample rate", Bad(bytes).Message);
        Assert.Throws<InvalidAudioException>(() => new AudioClip([0f], rate));
    }

    [Fact]
    public void AbsurdChannelCountsAndMismatchedBlockAlignAreTypedErrors()
    {
        var bytes = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(22), 5000);
        Assert.Contains("5000 channels", Bad(bytes).Message);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(22), 0);
        Assert.Contains("0 channels", Bad(bytes).Message);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(22), 2); // block align still says one channel
        Assert.Contains("block align", Bad(bytes).Message);
    }

    [Fact]
    public void UnsupportedEncodingsAreTypedErrors()
    {
        var bytes = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(20), 0x55); // MP3 in WAV
        Assert.Contains("0x0055", Bad(bytes).Message);
        bytes = WavFiles.Write(Values, 1, 16000, WavFiles.Kind.Pcm16);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(34), 12);
        Assert.Contains("12-bit", Bad(bytes).Message);
    }

    [Fact]
    public void AHugeDeclaredSizeIsRefusedBeforeAllocating()
    {
        // 1 s of audio whose data chunk claims 4 GB: the limit check comes before any allocation or read.
        var bytes = WavFiles.Write(new double[16000], 1, 16000, WavFiles.Kind.Pcm16);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(40), 0xFFFFFFF0);
        Assert.Contains("exceeds the limit", Bad(bytes).Message);
        // And a real file longer than a lowered limit.
        var longer = WavFiles.Write(new double[16000], 1, 16000, WavFiles.Kind.Pcm16);
        Assert.Contains("exceeds the limit", Bad(longer, new WavReadLimits { MaxSeconds = 0.5 }).Message);
    }

    [Fact]
    public void NanSamplesAreRejected()
    {
        var bytes = WavFiles.Write([0, double.NaN], 1, 16000, WavFiles.Kind.Float32);
        Assert.Contains("NaN", Bad(bytes).Message);
    }
}
