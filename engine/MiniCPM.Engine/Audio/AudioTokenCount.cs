namespace MiniCPM.Engine.Audio;

/// <summary>
/// How many rows each stage of MiniCPM-o's audio path produces for n samples at 16 kHz (processor
/// <c>get_audio_placeholder</c>): mel frames F = ⌈n/160⌉, encoder frames C = (F − 1)//2 + 1 (conv2, stride 2),
/// LLM tokens T = (C − pool)//pool + 1 (AvgPool1d, floor division as in Python). 1 s → 100 / 50 / 25.
/// </summary>
public static class AudioTokenCount
{
    public static int MelFrames(long samples) => WhisperLogMel.FrameCount(samples);

    public static int EncoderFrames(int melFrames) => melFrames <= 0 ? 0 : (melFrames - 1) / 2 + 1;

    /// <summary>AvgPool1d(pool, stride pool) output length: ⌊(C − pool)/pool⌋ + 1, 0 when C &lt; pool.</summary>
    public static int PooledTokens(int encoderFrames, int poolStep) =>
        encoderFrames < poolStep ? 0 : (encoderFrames - poolStep) / poolStep + 1;

    /// <summary>LLM audio tokens of a clip of <paramref name="samples"/> samples at 16 kHz.</summary>
    public static int Tokens(long samples, int poolStep = 2) => PooledTokens(EncoderFrames(MelFrames(samples)), poolStep);

    /// <summary>
    /// Tokens per placeholder chunk for <c>chunk_input</c>: the token count of <paramref name="chunkSeconds"/> of audio
    /// (int(chunk_length·100) mel frames → 25 for 1 s at pool step 2).
    /// </summary>
    public static int TokensPerChunk(double chunkSeconds, int poolStep = 2) =>
        PooledTokens(EncoderFrames((int)(chunkSeconds * 100)), poolStep);
}
