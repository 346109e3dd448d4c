using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Tests.Api;

/// <summary>One tiny random-weight GGUF (real layout and vocabulary scheme) shared by the API and CLI tests.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public string Folder { get; } = TestData.TempDirectory();
    public string Path { get; }

    public TinyModelFixture()
    {
        Path = System.IO.Path.Combine(Folder, "tiny-f16.gguf");
        SyntheticModel.WriteGguf(SyntheticModelSpec.Preset("tiny"), Path, TensorType.F16, seed: 3);
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
