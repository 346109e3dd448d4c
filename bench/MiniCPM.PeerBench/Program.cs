using System.Globalization;
using MiniCPM.Engine.Benchmarking;
using MiniCPM.Loaders;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using MiniCPM.PeerBench;

// MiniCPM.PeerBench — the engine beside llama.cpp on the same GGUF files.
//   peer [--dir D] [--dtypes f16,f32,q8_0,q4_0,q4_k_m,…] [--threads 2] [--prompt-tokens 128] [--gen 64] [--runs 5] [--llama-mmap yes|no]
//        [--engine-weights mapped|memory]
//       writes qwen2-0.5b-shape GGUFs into D (if absent; quantized types through llama.cpp's quantizer), then measures the engine, llama.cpp as LLamaSharp loads it by
//       default (weights read into its own memory) and llama.cpp mapping the file, alternating, and prints Markdown.
//   profile --model FILE [--threads 1,2] [--context 128] [--steps 16] [--rounds 5]
//       breaks one decode step into matvecs, lm_head and the rest; PROFILE_COPY=1 replays the matvecs on a private
//       anonymous copy of the weights instead of the file mapping (diagnostic: mapped-file reads vs plain memory).
const string Usage = """
    usage: MiniCPM.PeerBench peer [--dir D] [--dtypes f16,f32] [--threads 2] [--prompt-tokens 128] [--gen 64] [--runs 5] [--llama-mmap yes|no] [--engine-weights mapped|memory]
           MiniCPM.PeerBench profile --model FILE.gguf [--threads 1,2] [--context 128] [--steps 16] [--rounds 5]
    """;

if (args.Length == 0) { Console.Error.WriteLine(Usage); return 2; }
var options = new Dictionary<string, string>();
for (int i = 1; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
string Get(string name, string fallback) => options.GetValueOrDefault(name, fallback);
int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

switch (args[0])
{
    case "peer":
    {
        string dir = Get("--dir", Path.Combine(Path.GetTempPath(), "minicpm-peerbench"));
        Directory.CreateDirectory(dir);
        int threads = Int("--threads", 2), promptTokens = Int("--prompt-tokens", 128), gen = Int("--gen", 64), runs = Int("--runs", 5);
        var spec = SyntheticModelSpec.Preset("qwen2-0.5b-shape");
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} logical CPUs; {threads} threads; prompt {promptTokens}, decode {gen}, {runs} runs each after 1 warm-up; engine weights {Get("--engine-weights", "mapped")}");
        var results = new List<PeerComparison.Result>();
        foreach (string dtype in Get("--dtypes", "f16,f32").Split(','))
        {
            string path = Path.Combine(dir, $"{spec.Name}-{dtype}.gguf");
            if (!File.Exists(path))
            {
                if (LlamaQuantization.IsQuantized(dtype))
                {
                    // Quantized files come from llama.cpp's own quantizer, applied to the F16 file: both engines read
                    // the identical bytes, with llama.cpp's choices of which tensors stay higher precision.
                    string f16 = Path.Combine(dir, $"{spec.Name}-f16.gguf");
                    if (!File.Exists(f16))
                    {
                        Console.WriteLine($"writing {f16}");
                        SyntheticModel.WriteGguf(spec, f16, TensorType.F16);
                    }
                    Console.WriteLine($"quantizing {f16} → {path} with llama.cpp ({dtype})");
                    LlamaQuantization.Quantize(f16, path, dtype, threads);
                }
                else
                {
                    var type = dtype switch { "f16" => TensorType.F16, "f32" => TensorType.F32, "bf16" => TensorType.BF16, _ => throw new ArgumentException($"dtype {dtype}") };
                    Console.WriteLine($"writing {path}");
                    SyntheticModel.WriteGguf(spec, path, type);
                }
            }
            var engineWeights = Get("--engine-weights", "mapped") == "memory" ? FileResidency.InMemory : FileResidency.Mapped;
            results.Add(PeerComparison.Run(path, threads, promptTokens, gen, runs, Get("--llama-mmap", "yes") == "yes", Console.Out, engineWeights));
        }
        Console.WriteLine();
        PeerComparison.WriteMarkdown(results, Console.Out);
        Console.WriteLine();
        Console.WriteLine($"peak RSS of this process (engine + llama.cpp copies and mappings together; see `minicpm bench` for the engine alone): {ProcessStats.PeakResidentBytes() / 1e6:F0} MB");
        return 0;
    }
    case "profile":
    {
        string model = options.GetValueOrDefault("--model") ?? throw new ArgumentException("--model is required");
        foreach (string t in Get("--threads", "1,2").Split(','))
            DecodeProfile.Run(model, int.Parse(t, CultureInfo.InvariantCulture), Int("--context", 128), Int("--steps", 16), Int("--rounds", 5), Console.Out);
        return 0;
    }
    default:
        Console.Error.WriteLine(Usage);
        return 2;
}
