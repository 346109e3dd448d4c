namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// Turns chat media into what the language model reads: the placeholder text that stands for the item in the prompt
/// (for an image: <c>&lt;image_id&gt;k&lt;/image_id&gt;&lt;image&gt;&lt;unk&gt;×64&lt;/image&gt;&lt;slice&gt;…</c>) and
/// the embedding rows of each of its placeholder runs, in prompt order. Implemented by the model's vision and audio
/// towers; a chat session without one refuses media.
/// </summary>
public interface IMediaEncoder
{
    /// <param name="imageIndex">How many images came before this one in the conversation (the <c>&lt;image_id&gt;</c>).</param>
    MediaEncoding Encode(ChatMedia media, int imageIndex);
}

/// <summary>The placeholder text of one media item and the rows for each of its runs (each Rows × hidden).</summary>
public sealed record MediaEncoding(string PlaceholderText, IReadOnlyList<ReadOnlyMemory<float>> Runs);
