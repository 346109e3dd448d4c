using System.Diagnostics;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Bench;

/// <summary>
/// `audio-rtf [threads] [seconds …]` mode: the real-time factor (compute seconds per second of audio) of MiniCPM-o's
/// audio path at the Whisper-medium shape — log-mel, 24-layer encoder (d_model 1024, chunked attention), projection
/// to 3584 and pooling — on random BF16 weights written once to a temporary HF folder (with a one-layer stand-in LLM,
/// which the audio path does not touch). Each length runs 3 times after a warm-up; the table gives the median run and
/// the log-mel share of it.
/// </summary>
internal static class AudioRealTimeFactor
{
    private const int Runs = 3;

    public static void Run(string[] args)
    {
        int threads = args.Length > 1 ? int.Parse(args[1]) : 2;
        double[] lengths = args.Length > 2 ? args[2..].Select(double.Parse).ToArray() : [10, 30];
        var spec = SyntheticModelSpec.Create("whisper-medium-bench", hidden: 3584, layers: 1, heads: 28, kvHeads: 4, intermediate: 256, vocab: 512, tieEmbeddings: false)
            with { Audio = SyntheticModelSpec.WhisperShape(dModel: 1024, layers: 24, heads: 16) };
        string folder = Path.Combine(Path.GetTempPath(), $"minicpm-audio-bench-{Environment.ProcessId}");
        try
        {
            var clock = Stopwatch.StartNew();
            SyntheticModel.WriteHfFolder(spec, folder, TensorType.BF16, seed: 1);
            Console.WriteLine($"{DateTime.UtcNow:u}: wrote the Whisper-medium-shaped checkpoint in {clock.Elapsed.TotalSeconds:0.0} s; {threads} thread(s), {Environment.ProcessorCount} logical CPUs");
            using var embedder = AudioEmbedder.Load(folder, new AudioEmbedderOptions { Threads = threads });
            var logMel = new WhisperLogMel();
            var random = new Random(5);
            embedder.EncodePiece(Noise(random, 16000)); // warm-up (JIT, page-in)
            Console.WriteLine("| audio | tokens | median compute | real-time factor | log-mel share |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (double seconds in lengths)
            {
                var samples = Noise(random, (int)(seconds * 16000));
                var totals = new List<double>();
                var mels = new List<double>();
                int tokens = 0;
                for (int r = 0; r < Runs; r++)
                {
                    clock.Restart();
                    logMel.Compute(samples);
                    mels.Add(clock.Elapsed.TotalSeconds);
                    clock.Restart();
                    tokens = embedder.EncodePiece(samples).Tokens;
                    totals.Add(clock.Elapsed.TotalSeconds);
                }
                double total = Median(totals), mel = Median(mels);
                Console.WriteLine($"| {seconds:0.#} s | {tokens} | {total:0.00} s | {total / seconds:0.000} | {100 * mel / total:0.0}% |");
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static float[] Noise(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(0.1 * (random.NextDouble() * 2 - 1))).ToArray();

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
