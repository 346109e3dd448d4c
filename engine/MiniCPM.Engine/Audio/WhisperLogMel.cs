using System.Numerics;
using System.Runtime.InteropServices;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Audio;

/// <summary>
/// Whisper's log-mel features as MiniCPM-o computes them (WhisperFeatureExtractor with padding="max_length", then
/// cut to the valid frames). For one piece of at most 30 s of 16 kHz audio, n samples:
/// <list type="number">
/// <item>zero-pad to 480 000 samples (30 s) — before the STFT, so the last frames see zeros, not a reflection;</item>
/// <item>centred STFT: n_fft 400, hop 160, periodic Hann window, 200 samples of reflect padding at both ends; 3001
/// frames, the last dropped; power |X|² over 201 bins;</item>
/// <item>80 Slaney mel filters over 0–8 kHz; log10(max(mel, 1e-10));</item>
/// <item>clamp from below at (maximum over all 80×3000 values of the padded piece) − 8, then (x + 4)/4;</item>
/// <item>keep the first ⌈n/160⌉ frames.</item>
/// </list>
/// Frames whose window holds only padding zeros are exactly log10(1e-10) = −10, the smallest possible value, so they
/// never raise the maximum and are not transformed. Computed in double, stored as float. Frames are independent and
/// the maximum does not depend on the order it is taken in, so a thread pool splits the frames with the same result.
/// </summary>
public sealed unsafe class WhisperLogMel
{
    public const int SampleRate = AudioClip.WhisperSampleRate;
    public const int FftSize = 400;
    public const int HopLength = 160;
    public const int PaddedSamples = 30 * SampleRate;          // 480 000
    public const int PaddedFrames = PaddedSamples / HopLength; // 3000
    private const double LogFloor = -10;                       // log10(1e-10)
    private const double DynamicRange = 8;

    private readonly MelFilterBank _filters;
    private readonly double[] _window;

    public WhisperLogMel(int melBins = 80)
    {
        MelBins = melBins;
        _filters = new MelFilterBank(FftSize / 2 + 1, melBins, 0, 8000, SampleRate);
        _window = new double[FftSize];
        for (int i = 0; i < FftSize; i++) _window[i] = 0.5 - 0.5 * Math.Cos(2 * Math.PI * i / FftSize); // periodic Hann
    }

    public int MelBins { get; }

    /// <summary>Valid frames of n samples: ⌈n/160⌉ (the extractor's attention mask subsampled every hop).</summary>
    public static int FrameCount(long samples) => checked((int)((samples + HopLength - 1) / HopLength));

    /// <summary>Frames per work item when a pool splits them (each item sets up its own FFT).</summary>
    private const int FramesPerJob = 64;

    /// <summary>
    /// Log-mel of one piece of 1 … 480 000 samples at 16 kHz: [MelBins, ⌈n/160⌉] row-major (mel bin major, as the
    /// encoder's conv1 reads it). <paramref name="pool"/> splits the frames (the same values either way).
    /// </summary>
    public float[] Compute(ReadOnlySpan<float> samples, CpuThreadPool? pool = null)
    {
        if (samples.Length == 0 || samples.Length > PaddedSamples)
            throw new ArgumentException($"a mel piece holds 1 to {PaddedSamples} samples, not {samples.Length}", nameof(samples));
        int n = samples.Length, keep = FrameCount(n);

        // Frames that can see a signal sample: frame t covers padded positions t·160 − 200 … t·160 + 199, reflected at
        // both ends of the 480 000-sample piece.
        int computed = 0;
        while (computed < PaddedFrames && FrameTouchesSignal(computed, n)) computed++;
        int lastTouching = PaddedFrames - 1;
        while (lastTouching >= computed && !FrameTouchesSignal(lastTouching, n)) lastTouching--;
        // The reflection at the end only matters for pieces of (nearly) 30 s; compute every frame up to the last one
        // that touches the signal.
        int frames = Math.Max(computed, lastTouching + 1);

        var logMel = new double[frames * MelBins]; // [frame, bin]
        var frameMax = new double[frames];
        fixed (float* signal = samples)
        {
            var work = new FrameWork(this, signal, n, logMel, frameMax);
            if (pool is null || frames < 2 * FramesPerJob) work.Run(0, frames);
            else
            {
                var handle = GCHandle.Alloc(work);
                try
                {
                    pool.For(frames, new FrameJob(handle), FramesPerJob);
                }
                finally
                {
                    handle.Free();
                }
            }
        }
        double max = LogFloor;
        foreach (double m in frameMax)
            if (m > max) max = m;

        double floor = max - DynamicRange;
        var result = new float[MelBins * keep];
        for (int m = 0; m < MelBins; m++)
            for (int t = 0; t < keep; t++)
            {
                double value = t < frames ? logMel[t * MelBins + m] : LogFloor;
                result[m * keep + t] = (float)((Math.Max(value, floor) + 4) / 4);
            }
        return result;
    }

    /// <summary>The log-mel rows of frames [start, end) of one piece, and each frame's largest value.</summary>
    private sealed class FrameWork(WhisperLogMel owner, float* samples, int length, double[] logMel, double[] frameMax)
    {
        public void Run(int start, int end)
        {
            int bins = owner.MelBins;
            var fft = new RealFft(FftSize);
            var frame = new double[FftSize];
            var spectrum = new Complex[fft.Bins];
            var power = new double[fft.Bins];
            var mel = new double[bins];
            for (int t = start; t < end; t++)
            {
                for (int i = 0; i < FftSize; i++)
                {
                    int source = Reflect(t * HopLength - FftSize / 2 + i);
                    frame[i] = (source < length ? samples[source] : 0.0) * owner._window[i];
                }
                fft.PowerSpectrum(frame, spectrum, power);
                owner._filters.Apply(power, mel);
                double max = LogFloor;
                for (int m = 0; m < bins; m++)
                {
                    double value = Math.Log10(Math.Max(mel[m], 1e-10));
                    logMel[t * bins + m] = value;
                    if (value > max) max = value; // a NaN never becomes the maximum
                }
                frameMax[t] = max;
            }
        }
    }

    /// <summary>A pool job over frames: the pool takes only unmanaged jobs, so the work is reached through a handle.</summary>
    private readonly struct FrameJob(GCHandle work) : IRangeJob
    {
        public void Execute(int start, int end) => ((FrameWork)work.Target!).Run(start, end);
    }

    /// <summary>torch's reflect padding of the 480 000-sample piece: −k ↦ k, (L−1)+k ↦ (L−1)−k.</summary>
    private static int Reflect(int index)
    {
        if (index < 0) return -index;
        if (index >= PaddedSamples) return 2 * (PaddedSamples - 1) - index;
        return index;
    }

    private static bool FrameTouchesSignal(int frame, int n)
    {
        int start = frame * HopLength - FftSize / 2, end = start + FftSize - 1;
        if (start < 0) return true; // reflected head: positions 0 … 200, inside any signal (n ≥ 1 covers position 0)
        if (start < n) return true;
        return end >= PaddedSamples && Reflect(end) < n; // reflected tail reaching back into the signal
    }
}
