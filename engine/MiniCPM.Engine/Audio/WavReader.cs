using System.Buffers.Binary;
using System.Text;

namespace MiniCPM.Engine.Audio;

/// <summary>
/// Reads RIFF WAVE files (and their big-endian RIFX twin) into a mono <see cref="AudioClip"/>: integer PCM of 8
/// (unsigned), 16, 24 or 32 bits, IEEE float of 32 or 64 bits, plain or WAVE_FORMAT_EXTENSIBLE; several channels are
/// averaged. Every size in the header is checked against the bytes that are really there and against
/// <see cref="WavReadLimits"/> before anything is allocated, so a hostile header cannot make the reader allocate more
/// than the limit or read past the data. A data chunk declaring 0xFFFFFFFF bytes (written by streaming tools that
/// cannot seek back) means "to the end of the file"; a trailing partial frame is dropped.
/// </summary>
public static class WavReader
{
    private const ushort FormatPcm = 1;
    private const ushort FormatFloat = 3;
    private const ushort FormatExtensible = 0xFFFE;
    private const uint UnknownSize = 0xFFFFFFFF;
    private const int BlockBytes = 1 << 16;

    // The 14 bytes after the format code in KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUIDs.
    private static readonly byte[] GuidSuffix = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];

    public static AudioClip Read(string path, WavReadLimits? limits = null)
    {
        if (!File.Exists(path)) throw new InvalidAudioException(path, "file not found");
        using var stream = File.OpenRead(path);
        return Read(stream, path, limits);
    }

    public static AudioClip Read(byte[] bytes, string source = "WAV bytes", WavReadLimits? limits = null)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return Read(stream, source, limits);
    }

    /// <summary>Reads from the current position of <paramref name="stream"/> (it need not be seekable).</summary>
    public static AudioClip Read(Stream stream, string source = "stream", WavReadLimits? limits = null)
    {
        limits ??= WavReadLimits.Default;
        var reader = new ChunkReader(stream, source);
        Span<byte> header = stackalloc byte[12];
        if (!reader.TryReadExactly(header)) throw new InvalidAudioException(source, "not a WAV file (shorter than a RIFF header)");
        string magic = Encoding.ASCII.GetString(header[..4]);
        bool bigEndian = magic switch
        {
            "RIFF" => false,
            "RIFX" => true,
            _ => throw new InvalidAudioException(source, $"not a WAV file (starts with {Describe(header[..4])}, not RIFF)"),
        };
        if (Encoding.ASCII.GetString(header[8..12]) != "WAVE")
            throw new InvalidAudioException(source, $"a RIFF file of type {Describe(header[8..12])}, not WAVE");
        reader.BigEndian = bigEndian;

        WavFormat? format = null;
        Span<byte> chunkHeader = stackalloc byte[8];
        while (true)
        {
            if (!reader.TryReadExactly(chunkHeader))
                throw new InvalidAudioException(source, format is null ? "no fmt chunk before the end of the file" : "no data chunk before the end of the file");
            string id = Encoding.ASCII.GetString(chunkHeader[..4]);
            uint size = reader.UInt32(chunkHeader[4..]);
            if (id == "fmt ")
            {
                if (format is not null) throw new InvalidAudioException(source, "two fmt chunks");
                format = ReadFormat(reader, size, source, limits);
            }
            else if (id == "data")
            {
                if (format is null) throw new InvalidAudioException(source, "the data chunk comes before the fmt chunk");
                var mono = ReadSamples(reader, format, size, source, limits);
                if (mono.Length == 0) throw new InvalidAudioException(source, "the data chunk holds no samples (zero-length audio)");
                return new AudioClip(mono, format.SampleRate, source);
            }
            else
            {
                if (size == UnknownSize) throw new InvalidAudioException(source, $"chunk '{Printable(id)}' has no size");
                reader.Skip(size + (size & 1), id);
            }
        }
    }

    private static WavFormat ReadFormat(ChunkReader reader, uint size, string source, WavReadLimits limits)
    {
        if (size < 16 || size > 1024) throw new InvalidAudioException(source, $"fmt chunk of {size} bytes (16 to 40 expected)");
        var bytes = new byte[size + (size & 1)];
        reader.ReadExactly(bytes, "fmt chunk");
        ushort tag = reader.UInt16(bytes.AsSpan(0));
        int channels = reader.UInt16(bytes.AsSpan(2));
        uint rate = reader.UInt32(bytes.AsSpan(4));
        int blockAlign = reader.UInt16(bytes.AsSpan(12));
        int bits = reader.UInt16(bytes.AsSpan(14));

        if (tag == FormatExtensible)
        {
            if (size < 40) throw new InvalidAudioException(source, $"WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt chunk, found {size}");
            int validBits = reader.UInt16(bytes.AsSpan(18));
            ushort subFormat = reader.UInt16(bytes.AsSpan(24));
            if (!bytes.AsSpan(26, 14).SequenceEqual(GuidSuffix))
                throw new InvalidAudioException(source, "WAVE_FORMAT_EXTENSIBLE with a sub-format GUID that is neither PCM nor IEEE float");
            if (validBits > bits) throw new InvalidAudioException(source, $"{validBits} valid bits in a {bits}-bit container");
            tag = subFormat;
        }
        if (channels < 1 || channels > limits.MaxChannels)
            throw new InvalidAudioException(source, $"{channels} channels (1 to {limits.MaxChannels} supported)");
        if (rate < AudioClip.MinSampleRate || rate > AudioClip.MaxSampleRate)
            throw new InvalidAudioException(source, $"sample rate {rate} Hz is outside {AudioClip.MinSampleRate}–{AudioClip.MaxSampleRate} Hz");
        var encoding = (tag, bits) switch
        {
            (FormatPcm, 8) => SampleEncoding.UInt8,
            (FormatPcm, 16) => SampleEncoding.Int16,
            (FormatPcm, 24) => SampleEncoding.Int24,
            (FormatPcm, 32) => SampleEncoding.Int32,
            (FormatFloat, 32) => SampleEncoding.Float32,
            (FormatFloat, 64) => SampleEncoding.Float64,
            (FormatPcm, _) => throw new InvalidAudioException(source, $"{bits}-bit integer PCM is not supported (8, 16, 24 or 32)"),
            (FormatFloat, _) => throw new InvalidAudioException(source, $"{bits}-bit float samples are not supported (32 or 64)"),
            _ => throw new InvalidAudioException(source, $"WAV sample format 0x{tag:X4} is not supported (PCM or IEEE float only)"),
        };
        int bytesPerSample = bits / 8;
        if (blockAlign != channels * bytesPerSample)
            throw new InvalidAudioException(source, $"block align {blockAlign} does not match {channels} channel(s) of {bits} bits");
        return new WavFormat(encoding, channels, (int)rate, bytesPerSample);
    }

    private static float[] ReadSamples(ChunkReader reader, WavFormat format, uint size, string source, WavReadLimits limits)
    {
        int frameBytes = format.Channels * format.BytesPerSample;
        long maxFrames = (long)Math.Floor(limits.MaxSeconds * format.SampleRate);
        bool toEnd = size == UnknownSize;
        long declaredFrames = toEnd ? long.MaxValue : size / frameBytes;
        if (!toEnd && declaredFrames > maxFrames)
            throw new InvalidAudioException(source, $"{(double)declaredFrames / format.SampleRate:0.#} s of audio exceeds the limit of {limits.MaxSeconds:0.#} s");

        var mono = new List<float>(toEnd ? 1 << 16 : (int)declaredFrames);
        var block = new byte[Math.Max(frameBytes, BlockBytes / frameBytes * frameBytes)];
        var frame = new float[format.Channels];
        long remaining = toEnd ? long.MaxValue : declaredFrames * frameBytes;
        while (remaining > 0)
        {
            int want = (int)Math.Min(block.Length, remaining);
            int got = reader.ReadUpTo(block.AsSpan(0, want));
            if (got < want && !toEnd)
                throw new InvalidAudioException(source, $"truncated: the data chunk declares {size} bytes, the file ends after {(long)size - remaining + got}");
            int frames = got / frameBytes;
            if (mono.Count + (long)frames > maxFrames)
                throw new InvalidAudioException(source, $"more than {limits.MaxSeconds:0.#} s of audio (the limit)");
            for (int f = 0; f < frames; f++)
            {
                for (int c = 0; c < format.Channels; c++)
                    frame[c] = Decode(block.AsSpan((f * format.Channels + c) * format.BytesPerSample, format.BytesPerSample), format.Encoding, reader.BigEndian);
                double sum = 0;
                foreach (float v in frame) sum += v;
                mono.Add((float)(sum / format.Channels));
            }
            remaining -= got;
            if (got < want) break; // end of a to-the-end data chunk (a partial last frame is dropped)
        }
        foreach (float s in mono)
            if (!float.IsFinite(s)) throw new InvalidAudioException(source, "float samples contain NaN or infinity");
        return mono.ToArray();
    }

    private static float Decode(ReadOnlySpan<byte> b, SampleEncoding encoding, bool bigEndian) => encoding switch
    {
        SampleEncoding.UInt8 => (b[0] - 128) / 128f,
        SampleEncoding.Int16 => (bigEndian ? BinaryPrimitives.ReadInt16BigEndian(b) : BinaryPrimitives.ReadInt16LittleEndian(b)) / 32768f,
        SampleEncoding.Int24 => (float)(Int24(b, bigEndian) / 8388608.0),
        SampleEncoding.Int32 => (float)((bigEndian ? BinaryPrimitives.ReadInt32BigEndian(b) : BinaryPrimitives.ReadInt32LittleEndian(b)) / 2147483648.0),
        SampleEncoding.Float32 => bigEndian ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b),
        SampleEncoding.Float64 => (float)(bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(b) : BinaryPrimitives.ReadDoubleLittleEndian(b)),
        _ => throw new InvalidOperationException(),
    };

    private static int Int24(ReadOnlySpan<byte> b, bool bigEndian)
    {
        int value = bigEndian ? (b[0] << 16) | (b[1] << 8) | b[2] : (b[2] << 16) | (b[1] << 8) | b[0];
        return (value << 8) >> 8; // sign-extend from bit 23
    }

    private static string Describe(ReadOnlySpan<byte> bytes) => $"'{Printable(Encoding.ASCII.GetString(bytes))}'";

    private static string Printable(string text) => new(text.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());

    private enum SampleEncoding { UInt8, Int16, Int24, Int32, Float32, Float64 }

    private sealed record WavFormat(SampleEncoding Encoding, int Channels, int SampleRate, int BytesPerSample);

    /// <summary>Sequential reads with the file's byte order and typed errors on truncation.</summary>
    private sealed class ChunkReader(Stream stream, string source)
    {
        public bool BigEndian { get; set; }

        public ushort UInt16(ReadOnlySpan<byte> b) => BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);

        public uint UInt32(ReadOnlySpan<byte> b) => BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

        public int ReadUpTo(Span<byte> buffer)
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int n = stream.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
            return total;
        }

        public bool TryReadExactly(Span<byte> buffer)
        {
            int n = ReadUpTo(buffer);
            if (n == 0) return false;
            if (n < buffer.Length) throw new InvalidAudioException(source, "truncated in a chunk header");
            return true;
        }

        public void ReadExactly(Span<byte> buffer, string what)
        {
            if (ReadUpTo(buffer) < buffer.Length) throw new InvalidAudioException(source, $"truncated in the {what}");
        }

        public void Skip(long bytes, string chunk)
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (bytes > 0)
            {
                int n = ReadUpTo(scratch[..(int)Math.Min(scratch.Length, bytes)]);
                if (n == 0) throw new InvalidAudioException(source, $"truncated in chunk '{Printable(chunk)}'");
                bytes -= n;
            }
        }
    }
}

/// <summary>Bounds on what <see cref="WavReader"/> accepts, so memory stays bounded whatever the header claims.</summary>
public sealed record WavReadLimits
{
    public static WavReadLimits Default { get; } = new();

    /// <summary>Longest audio read (default 30 minutes, more than a 32k-token context can take at 27 tokens/s).</summary>
    public double MaxSeconds { get; init; } = 1800;

    /// <summary>Most channels accepted (default 32).</summary>
    public int MaxChannels { get; init; } = 32;
}
