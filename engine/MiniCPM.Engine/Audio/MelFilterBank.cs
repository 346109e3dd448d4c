namespace MiniCPM.Engine.Audio;

/// <summary>
/// Triangular mel filters on the Slaney scale with Slaney area normalisation, as transformers'
/// <c>mel_filter_bank(num_frequency_bins, num_mel_filters, min_frequency, max_frequency, sampling_rate,
/// norm="slaney", mel_scale="slaney")</c> builds them (in double): band edges equally spaced in mel, each filter
/// rising from edge m to m+1 and falling to m+2 over the linearly spaced FFT bin frequencies, scaled by
/// 2 / (f_(m+2) − f_m).
/// </summary>
public sealed class MelFilterBank
{
    // Slaney's scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4).
    private const double LinearHertzPerMel = 200.0 / 3;
    private const double LogStartHertz = 1000;
    private const double LogStartMel = LogStartHertz / LinearHertzPerMel; // 15
    private static readonly double MelsPerLogHertz = 27 / Math.Log(6.4);

    private readonly double[] _weights; // [filters, bins]

    public MelFilterBank(int frequencyBins, int filters, double minHertz, double maxHertz, int sampleRate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frequencyBins, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(filters, 1);
        FrequencyBins = frequencyBins;
        Filters = filters;
        _weights = new double[filters * frequencyBins];

        double melMin = HertzToMel(minHertz), melMax = HertzToMel(maxHertz);
        var edges = new double[filters + 2];
        for (int i = 0; i < edges.Length; i++) edges[i] = MelToHertz(melMin + (melMax - melMin) * i / (filters + 1));
        for (int m = 0; m < filters; m++)
        {
            double lower = edges[m], center = edges[m + 1], upper = edges[m + 2];
            double norm = 2 / (upper - lower);
            for (int k = 0; k < frequencyBins; k++)
            {
                double f = (double)sampleRate / 2 * k / (frequencyBins - 1);
                double rising = (f - lower) / (center - lower), falling = (upper - f) / (upper - center);
                _weights[m * frequencyBins + k] = Math.Max(0, Math.Min(rising, falling)) * norm;
            }
        }
    }

    public int FrequencyBins { get; }
    public int Filters { get; }

    /// <summary>Weight of FFT bin <paramref name="bin"/> in filter <paramref name="filter"/>.</summary>
    public double Weight(int filter, int bin) => _weights[filter * FrequencyBins + bin];

    /// <summary>mel[m] = Σ_k W[m, k]·power[k].</summary>
    public void Apply(ReadOnlySpan<double> power, Span<double> mel)
    {
        for (int m = 0; m < Filters; m++)
        {
            var row = _weights.AsSpan(m * FrequencyBins, FrequencyBins);
            double sum = 0;
            for (int k = 0; k < FrequencyBins; k++) sum += row[k] * power[k];
            mel[m] = sum;
        }
    }

    public static double HertzToMel(double hertz) =>
        hertz < LogStartHertz ? hertz / LinearHertzPerMel : LogStartMel + Math.Log(hertz / LogStartHertz) * MelsPerLogHertz;

    public static double MelToHertz(double mel) =>
        mel < LogStartMel ? mel * LinearHertzPerMel : LogStartHertz * Math.Exp((mel - LogStartMel) / MelsPerLogHertz);
}
