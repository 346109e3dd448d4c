using System.Buffers.Binary;
using System.Text;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>Writes WAV bytes by hand for the reader tests (independent of the reader's code).</summary>
public static class WavFiles
{
    public enum Kind { Pcm8, Pcm16, Pcm24, Pcm32, Float32, Float64 }

    public static int Bits(Kind kind) => kind switch { Kind.Pcm8 => 8, Kind.Pcm16 => 16, Kind.Pcm24 => 24, Kind.Pcm32 or Kind.Float32 => 32, _ => 64 };

    /// <summary>Interleaved samples in [−1, 1) encoded as <paramref name="kind"/>.</summary>
    public static byte[] Write(double[] interleaved, int channels, int sampleRate, Kind kind, bool extensible = false,
        bool bigEndian = false, byte[]? extraChunkBefore = null)
    {
        int bytes = Bits(kind) / 8;
        var data = new byte[interleaved.Length * bytes];
        for (int i = 0; i < interleaved.Length; i++)
        {
            var span = data.AsSpan(i * bytes, bytes);
            double v = interleaved[i];
            switch (kind)
            {
                case Kind.Pcm8: span[0] = (byte)(Math.Round(v * 128) + 128); break;
                case Kind.Pcm16: Int(span, (long)Math.Round(v * 32768), bigEndian); break;
                case Kind.Pcm24: Int(span, (long)Math.Round(v * 8388608), bigEndian); break;
                case Kind.Pcm32: Int(span, (long)Math.Round(v * 2147483648.0), bigEndian); break;
                case Kind.Float32: if (bigEndian) BinaryPrimitives.WriteSingleBigEndian(span, (float)v); else BinaryPrimitives.WriteSingleLittleEndian(span, (float)v); break;
                case Kind.Float64: if (bigEndian) BinaryPrimitives.WriteDoubleBigEndian(span, v); else BinaryPrimitives.WriteDoubleLittleEndian(span, v); break;
            }
        }
        ushort code = kind is Kind.Float32 or Kind.Float64 ? (ushort)3 : (ushort)1;
        var fmt = new MemoryStream();
        void U16(Stream s, int v) { var b = new byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); s.Write(b); }
        void U32(Stream s, long v) { var b = new byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, (uint)v); else BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v); s.Write(b); }
        U16(fmt, extensible ? 0xFFFE : code);
        U16(fmt, channels);
        U32(fmt, sampleRate);
        U32(fmt, (long)sampleRate * channels * bytes);
        U16(fmt, channels * bytes);
        U16(fmt, Bits(kind));
        if (extensible)
        {
            U16(fmt, 22);
            U16(fmt, Bits(kind));
            U32(fmt, 0);
            U16(fmt, code);
            fmt.Write([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
        }
        var file = new MemoryStream();
        file.Write(Encoding.ASCII.GetBytes(bigEndian ? "RIFX" : "RIFF"));
        U32(file, 0); // patched below
        file.Write(Encoding.ASCII.GetBytes("WAVE"));
        if (extraChunkBefore is not null) file.Write(extraChunkBefore);
        file.Write(Encoding.ASCII.GetBytes("fmt "));
        U32(file, fmt.Length);
        file.Write(fmt.ToArray());
        file.Write(Encoding.ASCII.GetBytes("data"));
        U32(file, data.Length);
        file.Write(data);
        var result = file.ToArray();
        if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(result.AsSpan(4), (uint)(result.Length - 8));
        else BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(4), (uint)(result.Length - 8));
        return result;
    }

    private static void Int(Span<byte> span, long value, bool bigEndian)
    {
        for (int i = 0; i < span.Length; i++)
        {
            byte b = (byte)(value >> (8 * i));
            span[bigEndian ? span.Length - 1 - i : i] = b;
        }
    }
}
