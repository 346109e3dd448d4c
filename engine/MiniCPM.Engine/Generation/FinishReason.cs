namespace MiniCPM.Engine.Generation;

/// <summary>Why a generated reply ended.</summary>
public enum FinishReason
{
    /// <summary>A stop token was generated (e.g. &lt;|im_end|&gt;); it is the last token and not part of the text.</summary>
    StopToken,

    /// <summary>The text reached one of the stop strings; the text is cut before it.</summary>
    StopString,

    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were generated.</summary>
    MaxNewTokens,

    /// <summary>The sequence filled the model's context (<c>ILanguageModel.MaxSequenceLength</c>).</summary>
    ContextFull,
}
