using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine;

/// <summary>
/// The entry point for applications: a loaded model with its tokenizer, from which chat sessions and one-shot
/// generators are made. All sessions share the model's weights (memory-mapped) and its paged KV cache.
/// <code>
/// using var model = MiniCpm.Load("ggml-model-f16.gguf");
/// using var chat = model.CreateChat();
/// chat.AddUser("Hello!");
/// await foreach (var token in chat.StreamReplyAsync()) Console.Write(token.Text);
/// </code>
/// </summary>
public sealed class MiniCpm : IDisposable
{
    private readonly ILanguageModel _model;

    private MiniCpm(ILanguageModel model, Qwen2Tokenizer tokenizer, string sourcePath)
    {
        _model = model;
        Tokenizer = tokenizer;
        SourcePath = sourcePath;
    }

    /// <summary>
    /// Loads a GGUF file, an HF checkpoint folder or a safetensors file with its config.json. Malformed files raise
    /// <see cref="Loaders.ModelFormatException"/>; a model without a tokenizer raises
    /// <see cref="TokenizerNotFoundException"/> (pass <see cref="MiniCpmOptions.TokenizerPath"/>).
    /// </summary>
    public static MiniCpm Load(string path, MiniCpmOptions? options = null)
    {
        options ??= new MiniCpmOptions();
        var tokenizer = ModelTokenizer.Load(options.TokenizerPath ?? path);
        ILanguageModel model = options.Device is "cpu"
            ? Qwen2Model.Load(path, new Qwen2Options { Threads = options.Threads, KvCacheTokens = options.KvCacheTokens, WeightResidency = options.WeightResidency })
            : Qwen2GpuModel.Load(path, new Qwen2GpuOptions { Device = options.Device, KvCacheTokens = options.KvCacheTokens });
        return new MiniCpm(model, tokenizer, path);
    }

    public string SourcePath { get; }
    public LlmConfig Config => _model.Config;
    public Qwen2Tokenizer Tokenizer { get; }

    /// <summary>The language model itself, for batched forward passes and custom decoding.</summary>
    public ILanguageModel LanguageModel => _model;

    /// <summary>A new conversation (ChatML, MiniCPM's default system prompt and sampling unless set).</summary>
    public ChatSession CreateChat(ChatSessionOptions? options = null) => new(_model, Tokenizer, options);

    /// <summary>A one-shot generator over raw prompt ids.</summary>
    public Generator CreateGenerator() => new(_model, Tokenizer);

    public void Dispose() => _model.Dispose();
}
