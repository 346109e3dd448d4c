using System.Runtime.InteropServices;
using MiniCPM.Engine.Errors;
using SkiaSharp;

namespace MiniCPM.Engine.Images;

/// <summary>
/// JPEG, PNG, WebP, BMP and GIF (first frame) → <see cref="RgbImage"/>, through SkiaSharp's codecs. The size is read
/// from the header and checked against <see cref="ImageDecodeOptions.MaxPixels"/> before any pixel buffer exists;
/// corrupt, truncated and unrecognised input raise <see cref="ImageDecodeException"/>. No colour management is
/// applied (PIL applies none either); alpha and EXIF orientation are handled per the options.
/// </summary>
public static class ImageDecoder
{
    public static RgbImage Decode(string path, ImageDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= ImageDecodeOptions.Default;
        byte[] bytes;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > options.MaxEncodedBytes)
                throw new ImageDecodeException($"the file is {length} bytes, more than the {options.MaxEncodedBytes}-byte limit", path);
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e) { throw new ImageDecodeException(e.Message, path, e); }
        catch (UnauthorizedAccessException e) { throw new ImageDecodeException(e.Message, path, e); }
        return DecodeBytes(bytes, options, path);
    }

    public static RgbImage Decode(Stream stream, ImageDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        options ??= ImageDecodeOptions.Default;
        return DecodeBytes(ReadBounded(stream, options.MaxEncodedBytes), options, null);
    }

    public static RgbImage Decode(byte[] bytes, ImageDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return DecodeBytes(bytes, options ?? ImageDecodeOptions.Default, null);
    }

    private static RgbImage DecodeBytes(byte[] bytes, ImageDecodeOptions options, string? source)
    {
        if (bytes.Length == 0) throw new ImageDecodeException("the input is empty", source);

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new ImageDecodeException("not a JPEG, PNG, WebP, BMP or GIF image (or its header is damaged)", source);

        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0)
            throw new ImageDecodeException($"the header gives a zero size ({width}×{height})", source);
        long pixels = (long)width * height;
        if (pixels > options.MaxPixels)
            throw new ImageDecodeException($"{width}×{height} = {pixels} pixels is more than the limit of {options.MaxPixels}", source);

        var rgba = DecodeRgba(codec, width, height, source);
        var image = ToRgb(rgba, width, height, options.Alpha);
        return options.ApplyExifOrientation ? ExifOrientation.Apply(image, (int)codec.EncodedOrigin) : image;
    }

    /// <summary>The first frame as unpremultiplied RGBA8888 in the file's own colours.</summary>
    private static byte[] DecodeRgba(SKCodec codec, int width, int height, string? source)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[checked(width * height * 4)];
        SKCodecResult result;
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            result = codec.GetPixels(info, handle.AddrOfPinnedObject(), info.RowBytes, new SKCodecOptions(0));
        }
        finally { handle.Free(); }

        return result switch
        {
            SKCodecResult.Success => rgba,
            SKCodecResult.IncompleteInput => throw new ImageDecodeException("the data is truncated (the image ends early)", source),
            SKCodecResult.ErrorInInput => throw new ImageDecodeException("the data is corrupt", source),
            _ => throw new ImageDecodeException($"the decoder failed ({result})", source),
        };
    }

    private static RgbImage ToRgb(byte[] rgba, int width, int height, AlphaHandling alpha)
    {
        var image = RgbImage.Create(width, height);
        var rgb = image.Pixels;
        int count = width * height;
        for (int i = 0, s = 0, d = 0; i < count; i++, s += 4, d += 3)
        {
            int a = rgba[s + 3];
            if (alpha == AlphaHandling.Drop || a == 255)
            {
                rgb[d] = rgba[s];
                rgb[d + 1] = rgba[s + 1];
                rgb[d + 2] = rgba[s + 2];
            }
            else
            {
                for (int c = 0; c < 3; c++)
                    rgb[d + c] = (byte)((rgba[s + c] * a + 255 * (255 - a) + 127) / 255);
            }
        }
        return image;
    }

    private static byte[] ReadBounded(Stream stream, long maxBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw new ImageDecodeException($"the stream holds more than the {maxBytes}-byte limit");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
