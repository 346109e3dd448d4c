using MiniCPM.Engine.Audio;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>Token counts and placeholder layouts against the reference's numbers (preprocessing doc §10, §13).</summary>
public class AudioPlaceholdersTests
{
    [Theory]
    [InlineData(16000, 100, 50, 25)]      // 1 s
    [InlineData(32000, 200, 100, 50)]     // the golden case
    [InlineData(40000, 250, 125, 62)]     // 2.5 s
    [InlineData(480000, 3000, 1500, 750)] // 30 s
    [InlineData(320, 2, 1, 0)]            // too short for a token
    [InlineData(321, 3, 2, 1)]
    public void StageLengths(long samples, int mel, int encoder, int tokens)
    {
        Assert.Equal(mel, AudioTokenCount.MelFrames(samples));
        Assert.Equal(encoder, AudioTokenCount.EncoderFrames(mel));
        Assert.Equal(tokens, AudioTokenCount.Tokens(samples));
    }

    [Fact]
    public void OneSecondIsOneRunOf25()
    {
        var layout = AudioPlaceholders.ForSamples(16000);
        Assert.Equal("<|audio_start|>" + string.Concat(Enumerable.Repeat("<unk>", 25)) + "<|audio_end|>", layout.Text);
        Assert.Equal(27, layout.TokenCount);
        Assert.Equal([new AudioPlaceholderRun(1, 25)], layout.Runs);
        Assert.Equal(25, AudioTokenCount.TokensPerChunk(1.0));
    }

    [Fact]
    public void ChunkedRunsFor2Point5Seconds()
    {
        var layout = AudioPlaceholders.ForSamples(40000);
        Assert.Equal([new AudioPlaceholderRun(1, 25), new AudioPlaceholderRun(28, 25), new AudioPlaceholderRun(55, 12)], layout.Runs);
        Assert.Equal(62, layout.Rows);
        Assert.Equal(62 + 6, layout.TokenCount);
        string unk25 = string.Concat(Enumerable.Repeat("<unk>", 25));
        Assert.Equal($"<|audio_start|>{unk25}<|audio_end|><|audio_start|>{unk25}<|audio_end|><|audio_start|>{string.Concat(Enumerable.Repeat("<unk>", 12))}<|audio_end|>", layout.Text);
    }

    [Fact]
    public void UnchunkedIsOneRun()
    {
        var layout = AudioPlaceholders.ForSamples(40000, chunkInput: false);
        Assert.Equal([new AudioPlaceholderRun(1, 62)], layout.Runs);
        Assert.StartsWith("<|audio_start|><unk>", layout.Text);
        Assert.EndsWith("<unk><|audio_end|>", layout.Text);
    }

    [Fact]
    public void ChunkFollowsTheConfiguredLength()
    {
        // audio_chunk_length 2 s → 200 mel frames → 100 encoder frames → 50 tokens per run.
        Assert.Equal(50, AudioTokenCount.TokensPerChunk(2.0));
        Assert.Equal([50, 12], AudioPlaceholders.ForSamples(40000, chunkSeconds: 2.0).Runs.Select(r => r.Rows));
    }

    [Fact]
    public void MasksArePrefixes()
    {
        var visible = AudioAttentionMask.VisibleKeys(120, AudioAttentionMask.ChunkFrames(1.0));
        Assert.Equal(50, visible[0]);
        Assert.Equal(50, visible[49]);
        Assert.Equal(100, visible[50]);
        Assert.Equal(120, visible[119]); // last chunk clipped to the length
        Assert.All(AudioAttentionMask.VisibleKeys(7, AudioAttentionMask.ChunkFrames(-1)), v => Assert.Equal(7, v));
        var dense = AudioAttentionMask.Dense(3, 2);
        Assert.Equal([1, 1, 0, 1, 1, 0, 1, 1, 1], dense);
    }
}
