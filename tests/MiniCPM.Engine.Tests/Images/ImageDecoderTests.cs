using System.Text.Json;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>SkiaSharp decoding against what Pillow 9.4's Image.open(f).convert("RGB") gives (tests/data/images/decode).</summary>
public sealed class ImageDecoderTests
{
    public static TheoryData<string> LosslessFiles() => ["rgb.png", "rgb.bmp", "lossless.webp", "rgba.png", "two-frames.gif"];

    [Theory]
    [MemberData(nameof(LosslessFiles))]
    public void Lossless_formats_decode_exactly_like_pillow(string file)
    {
        var expected = Reference(file);
        var actual = ImageDecoder.Decode(ImageFixtures.File($"decode/{file}"));
        var (differing, max) = ImageFixtures.Compare(expected, actual);
        Assert.True(differing == 0, $"{file}: {differing} bytes differ from Pillow, by up to {max}");
    }

    [Fact]
    public void Jpeg_decodes_like_pillows_libjpeg_turbo()
    {
        var expected = Reference("q90.jpg");
        var actual = ImageDecoder.Decode(ImageFixtures.File("decode/q90.jpg"));
        var (differing, max) = ImageFixtures.Compare(expected, actual);
        Assert.True(differing == 0, $"{differing} bytes differ from Pillow, by up to {max}");
    }

    [Fact]
    public void Exif_orientation_is_applied_or_left_as_stored()
    {
        var path = ImageFixtures.File("decode/orientation6.jpg");
        var stored = ImageDecoder.Decode(path, new ImageDecodeOptions { ApplyExifOrientation = false });
        var upright = ImageDecoder.Decode(path);

        Assert.Equal((37, 23), (stored.Width, stored.Height));
        Assert.Equal((23, 37), (upright.Width, upright.Height));
        Assert.Equal(ExifOrientation.Apply(stored, 6).Pixels, upright.Pixels);
        // Pillow's ImageOps.exif_transpose of the same file.
        var (differing, max) = ImageFixtures.Compare(Reference("orientation6.jpg"), upright);
        Assert.True(differing == 0, $"{differing} bytes differ from Pillow's exif_transpose, by up to {max}");
    }

    [Fact]
    public void Streams_byte_arrays_and_paths_give_the_same_pixels()
    {
        var path = ImageFixtures.File("decode/rgb.png");
        var fromPath = ImageDecoder.Decode(path);
        using var stream = File.OpenRead(path);
        Assert.Equal(fromPath.Pixels, ImageDecoder.Decode(stream).Pixels);
        Assert.Equal(fromPath.Pixels, ImageDecoder.Decode(File.ReadAllBytes(path)).Pixels);
    }

    [Fact]
    public void Alpha_is_dropped_like_pil_or_composited_on_white()
    {
        // One pixel, colour (200, 100, 0) at alpha 128; one fully transparent pixel whose stored colour is (10, 20, 30).
        var png = TinyPng(2, 1, [200, 100, 0, 128, 10, 20, 30, 0]);

        Assert.Equal(new byte[] { 200, 100, 0, 10, 20, 30 }, ImageDecoder.Decode(png).Pixels);
        var white = ImageDecoder.Decode(png, new ImageDecodeOptions { Alpha = AlphaHandling.CompositeOnWhite });
        // round((c·128 + 255·127) / 255): 200 → 227.4 → 227, 100 → 177.2 → 177, 0 → 127; transparent → white.
        Assert.Equal(new byte[] { 227, 177, 127, 255, 255, 255 }, white.Pixels);
    }

    [Fact]
    public void Orientations_map_pixels_as_exif_defines_them()
    {
        // Stored 3×2:  a b c / d e f  (one byte per pixel shown; all three channels carry it).
        var stored = new RgbImage(3, 2, new byte[] { 1, 2, 3, 4, 5, 6 }.SelectMany(v => new[] { v, v, v }).ToArray());
        string Shown(int orientation)
        {
            var image = ExifOrientation.Apply(stored, orientation);
            return string.Join("/", Enumerable.Range(0, image.Height).Select(y =>
                string.Concat(Enumerable.Range(0, image.Width).Select(x => (char)('a' + image[x, y, 0] - 1)))));
        }
        Assert.Equal("abc/def", Shown(1));
        Assert.Equal("cba/fed", Shown(2));
        Assert.Equal("fed/cba", Shown(3));
        Assert.Equal("def/abc", Shown(4));
        Assert.Equal("ad/be/cf", Shown(5));
        Assert.Equal("da/eb/fc", Shown(6)); // rotated 90° clockwise
        Assert.Equal("fc/eb/da", Shown(7));
        Assert.Equal("cf/be/ad", Shown(8)); // rotated 90° counter-clockwise
    }

    [Fact]
    public void Garbage_empty_and_truncated_input_are_typed_errors()
    {
        Assert.Contains("empty", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Array.Empty<byte>())).Message);
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("not an image at all, just text"u8.ToArray()));

        foreach (var file in new[] { "rgb.png", "q90.jpg", "lossless.webp", "rgb.bmp" })
        {
            var bytes = File.ReadAllBytes(ImageFixtures.File($"decode/{file}"));
            var truncated = bytes[..(bytes.Length / 2)];
            var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(truncated));
            Assert.Null(e.FilePath);
        }
    }

    [Fact]
    public void A_missing_file_is_a_typed_error_naming_it()
    {
        var path = Path.Combine(TestData.TempDirectory(), "missing.png");
        Assert.Equal(path, Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(path)).FilePath);
    }

    [Fact]
    public void Gigantic_images_are_refused_from_the_header()
    {
        // A BMP header claiming 30 000 × 30 000 pixels (2.7 GB of RGB) with almost no data behind it.
        var bmp = BmpHeader(30_000, 30_000);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bmp));
        Assert.True(e.Message.Contains("900000000 pixels"), e.Message);

        // A real JPEG whose frame header is patched to 60 000 × 60 000.
        var jpeg = File.ReadAllBytes(ImageFixtures.File("decode/q90.jpg"));
        PatchJpegSize(jpeg, 60_000, 60_000);
        var message = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(jpeg)).Message;
        Assert.True(message.Contains("3600000000 pixels"), message);

        // The limit is an option.
        var small = new ImageDecodeOptions { MaxPixels = 37 * 23 - 1 };
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(ImageFixtures.File("decode/rgb.png"), small));
    }

    [Fact]
    public void Zero_sized_images_are_refused()
    {
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(BmpHeader(0, 10)));
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(TinyPng(0, 1, [])));
    }

    [Fact]
    public void Streams_longer_than_the_limit_are_refused()
    {
        using var stream = new MemoryStream(new byte[4096]);
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(stream, new ImageDecodeOptions { MaxEncodedBytes = 1000 }));
    }

    private static RgbImage Reference(string file)
    {
        using var index = JsonDocument.Parse(File.ReadAllText(ImageFixtures.File("decode/index.json")));
        var entry = index.RootElement.EnumerateArray().Single(e => e.GetProperty("file").GetString() == file);
        return ImageFixtures.ReadRaw($"decode/{file}.rgb", entry.GetProperty("width").GetInt32(), entry.GetProperty("height").GetInt32());
    }

    /// <summary>A 24-bit BMP file header + BITMAPINFOHEADER for the given size, followed by 16 bytes of pixels.</summary>
    private static byte[] BmpHeader(int width, int height)
    {
        var bytes = new byte[54 + 16];
        var span = bytes.AsSpan();
        span[0] = (byte)'B';
        span[1] = (byte)'M';
        BitConverter.TryWriteBytes(span[2..], bytes.Length);
        BitConverter.TryWriteBytes(span[10..], 54);   // pixel data offset
        BitConverter.TryWriteBytes(span[14..], 40);   // info header size
        BitConverter.TryWriteBytes(span[18..], width);
        BitConverter.TryWriteBytes(span[22..], height);
        BitConverter.TryWriteBytes(span[26..], (short)1);  // planes
        BitConverter.TryWriteBytes(span[28..], (short)24); // bits per pixel
        return bytes;
    }

    /// <summary>Rewrites the height and width of the first SOFn segment.</summary>
    private static void PatchJpegSize(byte[] jpeg, int width, int height)
    {
        for (int i = 2; i + 9 < jpeg.Length;)
        {
            Assert.Equal(0xFF, jpeg[i]);
            byte marker = jpeg[i + 1];
            int length = (jpeg[i + 2] << 8) | jpeg[i + 3];
            if (marker is >= 0xC0 and <= 0xC3)
            {
                jpeg[i + 5] = (byte)(height >> 8); jpeg[i + 6] = (byte)height;
                jpeg[i + 7] = (byte)(width >> 8); jpeg[i + 8] = (byte)width;
                return;
            }
            i += 2 + length;
        }
        Assert.Fail("no SOF segment");
    }

    /// <summary>An uncompressed-deflate RGBA PNG, written by hand (no encoder involved).</summary>
    private static byte[] TinyPng(int width, int height, byte[] rgba)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        WriteBigEndian(header, 0, width);
        WriteBigEndian(header, 4, height);
        header[8] = 8;  // bit depth
        header[9] = 6;  // RGBA
        Chunk(png, "IHDR", header);

        using var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            raw.WriteByte(0); // filter: none
            raw.Write(rgba, y * width * 4, width * 4);
        }
        using var zlib = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(zlib, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            raw.WriteTo(z);
        Chunk(png, "IDAT", zlib.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        WriteBigEndian(length, 0, data.Length);
        png.Write(length);
        var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(body);
        var crc = new byte[4];
        WriteBigEndian(crc, 0, (int)Crc32(body));
        png.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    private static void WriteBigEndian(byte[] buffer, int offset, int value)
    {
        buffer[offset] = (byte)(value >> 24);
        buffer[offset + 1] = (byte)(value >> 16);
        buffer[offset + 2] = (byte)(value >> 8);
        buffer[offset + 3] = (byte)value;
    }
}
