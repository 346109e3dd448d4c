namespace MiniCPM.Engine.Audio;

/// <summary>
/// The Whisper encoder's self-attention masks in MiniCPM-o, as the number of leading key frames each query frame sees
/// (both masks are prefixes, which is what <see cref="MiniCPM.Kernels.Cpu.PrefixAttention"/> takes):
/// block-causal chunks of <c>int(audio_chunk_length·50)</c> encoder frames (<c>subsequent_chunk_mask</c>: frame i sees
/// frames &lt; min((i//chunk + 1)·chunk, C)), or full attention when the chunk length is ≤ 0.
/// </summary>
public static class AudioAttentionMask
{
    /// <summary>Encoder frames per attention chunk: int(seconds · 50) (50 frames per second after conv2).</summary>
    public static int ChunkFrames(double chunkSeconds) => chunkSeconds <= 0 ? 0 : (int)(chunkSeconds * 50);

    /// <summary>Visible key count per query for <paramref name="frames"/> frames; chunkFrames ≤ 0 = everything.</summary>
    public static int[] VisibleKeys(int frames, int chunkFrames)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        var visible = new int[frames];
        for (int i = 0; i < frames; i++)
            visible[i] = chunkFrames <= 0 ? frames : Math.Min((i / chunkFrames + 1) * chunkFrames, frames);
        return visible;
    }

    /// <summary>The same mask as a dense [frames, frames] matrix, 1 = visible (for checks and golden tensors).</summary>
    public static int[] Dense(int frames, int chunkFrames)
    {
        var visible = VisibleKeys(frames, chunkFrames);
        var mask = new int[frames * frames];
        for (int i = 0; i < frames; i++)
            for (int j = 0; j < visible[i]; j++) mask[i * frames + j] = 1;
        return mask;
    }
}
