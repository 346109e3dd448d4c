using System.Text;

namespace MiniCPM.Engine.Audio;

/// <summary>One run of audio placeholder tokens: where its embeddings go in the placeholder text's token sequence.</summary>
/// <param name="FirstPlaceholder">Index, counted in tokens of <see cref="AudioPlaceholderLayout.Text"/>, of the run's first &lt;unk&gt;.</param>
/// <param name="Rows">Number of &lt;unk&gt; tokens, each replaced by one audio embedding row, in order.</param>
public sealed record AudioPlaceholderRun(int FirstPlaceholder, int Rows);

/// <summary>
/// The prompt text that stands for one audio clip and how its embedding rows are laid into it: each run is
/// <c>&lt;|audio_start|&gt;</c>, <see cref="AudioPlaceholderRun.Rows"/> × <c>&lt;unk&gt;</c>, <c>&lt;|audio_end|&gt;</c>,
/// concatenated without separators. The clip's embeddings fill the runs' placeholders in order.
/// </summary>
public sealed record AudioPlaceholderLayout(string Text, IReadOnlyList<AudioPlaceholderRun> Runs)
{
    /// <summary>Embedding rows the layout expects (the clip's token count).</summary>
    public int Rows => Runs.Sum(r => r.Rows);

    /// <summary>Tokens the text tokenizes to (each marker and each &lt;unk&gt; is one special token).</summary>
    public int TokenCount => Runs.Sum(r => r.Rows + 2);
}

/// <summary>
/// MiniCPM-o 2.6's audio placeholders (processor <c>get_audio_placeholder</c>), as pure functions. With
/// <c>chunk_input</c> (the default of <c>chat()</c>, always so in streaming) the T tokens are cut into
/// ⌈T/25⌉ runs of at most 25 (one per second of audio at <c>audio_chunk_length</c> 1 s); without it, one run of T.
/// </summary>
public static class AudioPlaceholders
{
    public const string AudioStart = "<|audio_start|>";
    public const string AudioEnd = "<|audio_end|>";
    public const string Placeholder = "<unk>";

    /// <summary>The layout for a clip of <paramref name="samples"/> samples at 16 kHz.</summary>
    public static AudioPlaceholderLayout ForSamples(long samples, bool chunkInput = true, double chunkSeconds = 1.0, int poolStep = 2) =>
        ForTokens(AudioTokenCount.Tokens(samples, poolStep), chunkInput ? AudioTokenCount.TokensPerChunk(chunkSeconds, poolStep) : 0);

    /// <summary>
    /// The layout for <paramref name="tokens"/> audio embedding rows in runs of at most <paramref name="tokensPerChunk"/>
    /// (0: one run of all tokens).
    /// </summary>
    public static AudioPlaceholderLayout ForTokens(int tokens, int tokensPerChunk)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegative(tokensPerChunk);
        var runs = new List<AudioPlaceholderRun>();
        var text = new StringBuilder();
        int position = 0;
        void AddRun(int rows)
        {
            text.Append(AudioStart);
            for (int i = 0; i < rows; i++) text.Append(Placeholder);
            text.Append(AudioEnd);
            runs.Add(new AudioPlaceholderRun(position + 1, rows));
            position += rows + 2;
        }
        if (tokensPerChunk == 0) AddRun(tokens);
        else
            for (int done = 0; done < tokens; done += tokensPerChunk)
                AddRun(Math.Min(tokensPerChunk, tokens - done));
        return new AudioPlaceholderLayout(text.ToString(), runs);
    }
}
