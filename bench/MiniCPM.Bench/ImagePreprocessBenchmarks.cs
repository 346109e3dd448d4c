using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Images;
using SkiaSharp;

namespace MiniCPM.Bench;

/// <summary>
/// Image bytes → model-ready pixels for one 1344×1344 JPEG (quality 90, a synthetic photo-like pattern): SkiaSharp
/// decode, UHD slicing (PIL-bicubic overview 448² + a 1344² refine, here same-size, cut into 3×3 tiles), float32
/// normalization of the 10 pieces, and the three together. Single-threaded.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class ImagePreprocessBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // In-process: no generated project to build (that build times out on a loaded 2-core box).
        public Config() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10)
            .WithToolchain(InProcessEmitToolchain.Instance));
    }

    private byte[] _jpeg = [];
    private RgbImage? _decoded;
    private IReadOnlyList<ImagePiece> _pieces = [];
    private readonly ImagePreprocessor _preprocessor = new(new SliceConfig());

    [Params(1344)]
    public int Side { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _jpeg = EncodeJpeg(Side, Side);
        _decoded = ImageDecoder.Decode(_jpeg);
        _pieces = UhdSlicer.Slice(_decoded, new SliceConfig());
    }

    [Benchmark]
    public RgbImage Decode() => ImageDecoder.Decode(_jpeg);

    [Benchmark]
    public IReadOnlyList<ImagePiece> Slice() => UhdSlicer.Slice(_decoded!, new SliceConfig());

    [Benchmark]
    public int Normalize()
    {
        int total = 0;
        foreach (var piece in _pieces) total += PixelNormalizer.ToChw(piece.Image).Length;
        return total;
    }

    [Benchmark]
    public PreprocessedImage DecodeSliceNormalize() => _preprocessor.Preprocess(ImageDecoder.Decode(_jpeg));

    /// <summary>Smooth gradients with soft detail, so the JPEG has a photo's entropy rather than noise's.</summary>
    private static byte[] EncodeJpeg(int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 4;
                pixels[i] = (byte)(128 + 100 * Math.Sin(x * 0.013) * Math.Cos(y * 0.007));
                pixels[i + 1] = (byte)((x + y) * 255 / (width + height));
                pixels[i + 2] = (byte)(128 + 60 * Math.Sin((x - y) * 0.05) + 40 * Math.Cos(x * y * 1e-5));
                pixels[i + 3] = 255;
            }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
