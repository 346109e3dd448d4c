namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Ids of the tokens that prompting and image placement need, looked up by their text (never hard-coded: MiniCPM-V's
/// ids differ between releases). Null where the vocabulary lacks the token.
/// </summary>
/// <param name="EndOfText"><c>&lt;|endoftext|&gt;</c>: document end, padding, a stop token.</param>
/// <param name="ImStart"><c>&lt;|im_start|&gt;</c>: ChatML turn start.</param>
/// <param name="ImEnd"><c>&lt;|im_end|&gt;</c>: ChatML turn end, the chat models' EOS.</param>
/// <param name="ImageStart"><c>&lt;image&gt;</c> (MiniCPM's <c>im_start_id</c>).</param>
/// <param name="ImageEnd"><c>&lt;/image&gt;</c> (MiniCPM's <c>im_end_id</c>).</param>
/// <param name="SliceStart"><c>&lt;slice&gt;</c>.</param>
/// <param name="SliceEnd"><c>&lt;/slice&gt;</c>.</param>
/// <param name="ImageIdStart"><c>&lt;image_id&gt;</c>.</param>
/// <param name="ImageIdEnd"><c>&lt;/image_id&gt;</c>.</param>
/// <param name="Unknown"><c>&lt;unk&gt;</c>: the image placeholder filled with resampler outputs.</param>
public sealed record SpecialTokenIds(
    int? EndOfText, int? ImStart, int? ImEnd,
    int? ImageStart, int? ImageEnd, int? SliceStart, int? SliceEnd, int? ImageIdStart, int? ImageIdEnd, int? Unknown)
{
    /// <summary>The texts of MiniCPM-V's image-layout tokens, for <see cref="Qwen2Tokenizer.WithSpecialTokens"/>.</summary>
    public static IReadOnlyList<string> MiniCpmImageTokens { get; } =
        ["<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>", "<unk>"];

    internal static SpecialTokenIds Find(Qwen2Tokenizer t) => new(
        t.TokenToId("<|endoftext|>"), t.TokenToId("<|im_start|>"), t.TokenToId("<|im_end|>"),
        t.TokenToId("<image>"), t.TokenToId("</image>"), t.TokenToId("<slice>"), t.TokenToId("</slice>"),
        t.TokenToId("<image_id>"), t.TokenToId("</image_id>"), t.TokenToId("<unk>"));
}
