using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using SkiaSharp;

namespace MiniCPM.Engine.Tests.Multimodal;

/// <summary>
/// Tiny MiniCPM-V (as an HF folder and as a llama.cpp GGUF + mmproj pair, same weights) and tiny MiniCPM-o (HF folder)
/// models, a PNG large enough to be UHD-sliced, a WAV file, and a corrupt image.
/// </summary>
public sealed class MediaModelFixture : IDisposable
{
    public string Folder { get; } = TestData.TempDirectory();
    public string VisionFolder => Path.Combine(Folder, "tiny-v");
    public string VisionGguf => Path.Combine(Folder, "tiny-v.gguf");
    public string Mmproj => SyntheticModel.MmprojPathFor(VisionGguf);
    public string AudioFolder => Path.Combine(Folder, "tiny-o");
    public string Png => Path.Combine(Folder, "wide.png");
    public string Wav => Path.Combine(Folder, "tone.wav");
    public string CorruptPng => Path.Combine(Folder, "corrupt.png");

    public MediaModelFixture()
    {
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-v"), VisionFolder, TensorType.F32, seed: 5);
        SyntheticModel.WriteGguf(SyntheticModelSpec.Preset("tiny-v"), VisionGguf, TensorType.F32, seed: 5);
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-o"), AudioFolder, TensorType.F32, seed: 6);
        WritePng(Png, 700, 300);
        File.WriteAllBytes(CorruptPng, File.ReadAllBytes(Png)[..200]);
        WriteWav(Wav, seconds: 1.5, rate: 22050);
    }

    /// <summary>A smooth colour pattern (so every slice differs), PNG-encoded.</summary>
    private static void WritePng(string path, int width, int height)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            bitmap.SetPixel(x, y, new SKColor((byte)(x * 255 / width), (byte)(y * 255 / height), (byte)((x * 7 + y * 3) % 256)));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>16-bit mono PCM: a 440 Hz tone with a slow sweep.</summary>
    private static void WriteWav(string path, double seconds, int rate)
    {
        int n = (int)(seconds * rate);
        using var stream = File.Create(path);
        using var w = new BinaryWriter(stream);
        w.Write("RIFF"u8); w.Write(36 + 2 * n); w.Write("WAVE"u8);
        w.Write("fmt "u8); w.Write(16); w.Write((short)1); w.Write((short)1); w.Write(rate); w.Write(rate * 2); w.Write((short)2); w.Write((short)16);
        w.Write("data"u8); w.Write(2 * n);
        for (int i = 0; i < n; i++)
            w.Write((short)(12000 * Math.Sin(2 * Math.PI * (440 + 200.0 * i / n) * i / rate)));
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
