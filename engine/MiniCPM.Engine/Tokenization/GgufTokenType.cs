namespace MiniCPM.Engine.Tokenization;

/// <summary>Values of GGUF's <c>tokenizer.ggml.token_type</c> array (llama.cpp's <c>llama_token_type</c>).</summary>
public enum GgufTokenType
{
    Undefined = 0,
    /// <summary>A BPE token, stored as byte-level text.</summary>
    Normal = 1,
    Unknown = 2,
    /// <summary>A special token (&lt;|im_end|&gt;), stored as plain text.</summary>
    Control = 3,
    /// <summary>A non-special added token, stored as plain text.</summary>
    UserDefined = 4,
    /// <summary>A padding slot with no real token ("[PAD151646]").</summary>
    Unused = 5,
    Byte = 6,
}
