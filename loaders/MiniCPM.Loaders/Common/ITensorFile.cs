namespace MiniCPM.Loaders;

/// <summary>
/// A set of named tensors backed by memory-mapped files: one GGUF file, one safetensors file, or a sharded
/// checkpoint. Data views stay valid until the set is disposed.
/// </summary>
public interface ITensorFile : IDisposable
{
    /// <summary>The file or folder this set was read from.</summary>
    string SourcePath { get; }

    /// <summary>Tensors in file order.</summary>
    IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The tensor with this exact name, or null.</summary>
    TensorInfo? Find(string name);

    /// <summary>The bytes of a tensor of this set (zero copy).</summary>
    NativeBytes GetData(TensorInfo tensor);
}
