namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// A token matched as a whole string before normalization and BPE (Hugging Face's "added token"). Special ones
/// (<c>&lt;|im_end|&gt;</c>, <c>&lt;image&gt;</c>, …) are parsed from text only when the caller allows it; non-special
/// ones are always parsed. <see cref="LeftStrip"/>/<see cref="RightStrip"/> let the token swallow the whitespace
/// beside it, as in tokenizer.json's <c>lstrip</c>/<c>rstrip</c>.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool IsSpecial, bool LeftStrip = false, bool RightStrip = false);
