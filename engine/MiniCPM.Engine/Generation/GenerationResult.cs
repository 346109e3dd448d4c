namespace MiniCPM.Engine.Generation;

/// <summary>The outcome of <see cref="Generator.Generate"/>.</summary>
/// <param name="Tokens">Every generated id in order, including the stop token that ended generation (as Hugging Face's
/// <c>generate</c> returns it) and the tokens that spelled a stop string.</param>
/// <param name="Text">The reply text (stop token excluded, cut before a stop string); null without a tokenizer.</param>
/// <param name="Finish">Why generation ended.</param>
public sealed record GenerationResult(int[] Tokens, string? Text, FinishReason Finish);
