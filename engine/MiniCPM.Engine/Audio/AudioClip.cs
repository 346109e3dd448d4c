namespace MiniCPM.Engine.Audio;

/// <summary>Mono audio: float samples (nominally in [−1, 1]) at a sample rate in Hz.</summary>
public sealed record AudioClip
{
    /// <summary>The rate MiniCPM-o's Whisper front end expects.</summary>
    public const int WhisperSampleRate = 16000;

    /// <summary>Highest sample rate accepted anywhere (raw arrays and WAV files): 768 kHz is past every real device.</summary>
    public const int MaxSampleRate = 768_000;

    /// <summary>Lowest sample rate accepted: below 1 kHz nothing speech-like survives.</summary>
    public const int MinSampleRate = 1_000;

    public AudioClip(float[] samples, int sampleRate, string source = "samples")
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (sampleRate < MinSampleRate || sampleRate > MaxSampleRate)
            throw new InvalidAudioException(source, $"sample rate {sampleRate} Hz is outside {MinSampleRate}–{MaxSampleRate} Hz");
        if (samples.Length == 0) throw new InvalidAudioException(source, "the audio has no samples");
        foreach (float s in samples)
            if (!float.IsFinite(s)) throw new InvalidAudioException(source, "the audio contains NaN or infinite samples");
        Samples = samples;
        SampleRate = sampleRate;
        Source = source;
    }

    public float[] Samples { get; }
    public int SampleRate { get; }
    public string Source { get; }

    public double DurationSeconds => (double)Samples.Length / SampleRate;

    /// <summary>This clip at 16 kHz (itself when it already is), through <see cref="AudioResampler"/>.</summary>
    public AudioClip ToWhisperRate() =>
        SampleRate == WhisperSampleRate ? this : new AudioClip(AudioResampler.Resample(Samples, SampleRate, WhisperSampleRate), WhisperSampleRate, Source);

    /// <summary>Interleaved frames of <paramref name="channels"/> samples averaged to mono.</summary>
    public static float[] DownmixInterleaved(ReadOnlySpan<float> interleaved, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        if (interleaved.Length % channels != 0) throw new ArgumentException($"{interleaved.Length} samples are not whole frames of {channels} channels");
        var mono = new float[interleaved.Length / channels];
        for (int f = 0; f < mono.Length; f++)
        {
            double sum = 0;
            for (int c = 0; c < channels; c++) sum += interleaved[f * channels + c];
            mono[f] = (float)(sum / channels);
        }
        return mono;
    }
}
