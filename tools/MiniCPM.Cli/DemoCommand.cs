using System.Diagnostics;
using MiniCPM.Engine;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Images;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm demo [--preset tiny-v] [--prompt TEXT] [--max-tokens N]`: the whole path with no download — writes a small
/// deterministic random-weight MiniCPM-V (real GGUF + mmproj layout, real Qwen2 vocabulary) and a synthetic picture to
/// a temporary folder, loads them through the public API and streams a chat reply about the picture with timings.
/// Random weights make the words meaningless; the machinery (image decoding, UHD slicing, SigLIP, resampler,
/// placeholder layout, tokenizer, ChatML, paged KV cache, sampling, streaming detokenization) is the real one. A preset
/// without a vision tower (tiny, qwen2-0.5b-shape) runs a text-only chat.
/// </summary>
internal static class DemoCommand
{
    public const string Usage = "usage: minicpm demo [--preset tiny-v|tiny|qwen2-0.5b-shape] [--prompt <text>] [--max-tokens N] [--seed S]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string preset = "tiny-v";
        string? prompt = null;
        int maxTokens = 48;
        ulong seed = 7;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--preset" when i + 1 < args.Length: preset = args[++i]; break;
                case "--prompt" when i + 1 < args.Length: prompt = args[++i]; break;
                case "--max-tokens" when i + 1 < args.Length && int.TryParse(args[i + 1], out maxTokens) && maxTokens > 0: i++; break;
                case "--seed" when i + 1 < args.Length && ulong.TryParse(args[i + 1], out seed): i++; break;
                default:
                    error.WriteLine($"minicpm demo: unexpected argument '{args[i]}'");
                    error.WriteLine(Usage);
                    return 2;
            }
        }
        if (SyntheticModelSpec.Presets.FirstOrDefault(p => p.Name == preset) is not { } spec)
        {
            error.WriteLine($"minicpm demo: unknown preset '{preset}'");
            return 2;
        }

        string folder = Path.Combine(Path.GetTempPath(), "minicpm-demo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            prompt ??= spec.HasVision ? "What is in this picture?" : "Describe a sunrise over the sea in one sentence.";
            return CliErrors.Guard("demo", error, () => RunDemo(spec, folder, prompt, maxTokens, seed, output));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static int RunDemo(SyntheticModelSpec spec, string folder, string prompt, int maxTokens, ulong seed, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        string path = Path.Combine(folder, $"{spec.Name}-f16.gguf");
        SyntheticModel.WriteGguf(spec, path, TensorType.F16);
        var llm = spec.Llm;
        output.WriteLine($"model:  {spec.Name} (random weights): hidden {llm.HiddenSize}, {llm.Layers} layers, {llm.Heads} heads ({llm.KvHeads} KV), vocab {llm.VocabSize}, F16 GGUF of {InfoCommand.FormatBytes(new FileInfo(path).Length)}, written in {clock.Elapsed.TotalSeconds:0.00} s");

        string? mmproj = spec.HasVision ? SyntheticModel.MmprojPathFor(path) : null;

        clock.Restart();
        using var model = MiniCpm.Load(path, new MiniCpmOptions { KvCacheTokens = 4096, MmprojPath = mmproj });
        output.WriteLine($"loaded: memory-mapped through MiniCpm.Load in {clock.Elapsed.TotalMilliseconds:0} ms, {model.Config.Layers} layers, {Environment.ProcessorCount} threads" +
            (model.Vision is { } v ? $"; vision tower from {Path.GetFileName(mmproj)}: SigLIP {v.Encoder.Config.Layers} layers, resampler {v.RowsPerSlice} queries" : ""));

        using var chat = model.CreateChat();
        if (model.MediaEncoder is { HasVision: true } media)
        {
            byte[] png = SyntheticPicture.Png(700, 300);
            var plan = UhdSlicePlanner.Plan(700, 300, media.Slicing);
            clock.Restart();
            chat.AddUser(prompt, ChatMedia.Image(png, "synthetic 700×300 PNG"));
            output.WriteLine($"image:  synthetic 700×300 PNG → overview {plan.OverviewWidth}×{plan.OverviewHeight} + {plan.Grid?.Count ?? 0} slices ({plan.Grid}) of {plan.SliceWidth}×{plan.SliceHeight}; " +
                $"{plan.PieceCount} × {model.Vision!.RowsPerSlice} image rows in the prompt, encoded in {clock.Elapsed.TotalMilliseconds:0} ms");
        }
        else
        {
            chat.AddUser(prompt);
        }
        output.WriteLine($"user:   {prompt}");
        output.Write("reply:  ");
        var options = GenerationOptions.MiniCpmSampling with { Seed = seed, MaxNewTokens = maxTokens };
        int prompted = chat.Tokens.Count;
        clock.Restart();
        double firstToken = 0;
        int generated = 0;
        FinishReason? finish = null;
        var stream = chat.StreamReplyAsync(options).GetAsyncEnumerator();
        try
        {
            while (stream.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                var token = stream.Current;
                if (generated++ == 0) firstToken = clock.Elapsed.TotalSeconds;
                output.Write(token.Text);
                output.Flush();
                finish = token.Finish ?? finish;
            }
        }
        finally
        {
            stream.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        double total = clock.Elapsed.TotalSeconds;
        output.WriteLine();
        double decodeRate = generated > 1 ? (generated - 1) / Math.Max(total - firstToken, 1e-9) : 0;
        output.WriteLine($"timing: prompt of {prompted} tokens + first token in {firstToken * 1000:0} ms; {generated} tokens generated, {decodeRate:0.0} tokens/s after the first; finished: {finish}");
        output.WriteLine("(random weights: the words mean nothing; run `minicpm chat --model <real.gguf> --mmproj <mmproj.gguf> --image <photo>` with a real MiniCPM-V 2.6 GGUF pair)");
        return 0;
    }
}
