namespace MiniCPM.Cli;

/// <summary>Dispatches `minicpm &lt;command&gt; …` to the command classes.</summary>
public static class CommandLine
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            output.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var rest = args[1..];
        switch (args[0])
        {
            case "demo": return DemoCommand.Run(rest, output, error);
            case "generate": return GenerateCommand.Run(rest, output, error);
            case "chat": return ChatCommand.Run(rest, Console.In, output, error);
            case "info": return InfoCommand.Run(rest, output, error);
            case "convert": return ConvertCommand.Run(rest, output, error);
            case "quantize": return QuantizeCommand.Run(rest, output, error);
            case "make-model": return MakeModelCommand.Run(rest, output, error);
            case "tokenize": return TokenizeCommand.Run(rest, output, error);
            case "golden": return GoldenCommand.Run(rest, output, error);
            case "logits": return LogitsCommand.Run(rest, output, error);
            case "bench": return BenchCommand.Run(rest, output, error);
            case "embed-image": return EmbedImageCommand.Run(rest, output, error);
            case "devices": return DevicesCommand.Run(rest, output, error);
        }
        error.WriteLine($"minicpm: unknown command '{args[0]}'");
        error.WriteLine(Usage);
        return 2;
    }

    public const string Usage = """
        usage: minicpm <command> [options]

        commands:
          demo                    make a small random model, load it and stream a chat reply (no download)
          generate --model <path> --prompt <text> [--chat] [--image FILE]… [--audio FILE]… [--mmproj FILE]
                   [--max-slices N] [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S]
                   [--greedy | --beams N] [--stop TEXT] [--device cpu|cuda[:N]]
                                  stream a continuation (with --chat or media: an assistant reply)
          chat --model <path> [--system <text>] [--image FILE]… [--mmproj FILE] [options as for generate]
                                  interactive conversation on standard input (/image FILE, /audio FILE attach media)
          embed-image --model <path> [--mmproj FILE] --image FILE [--max-slices N] [--out FILE]
                                  one image through slicing, SigLIP and the resampler, as JSON
          info <file-or-folder>   describe a GGUF file, a safetensors file or an HF checkpoint folder
          devices                 what --device can name here: the CPU backend and each CUDA/OpenCL device, usable or why not
          convert <hf-folder> --out <dir> [--type f16] [--mmproj-type f16]
                                  write llama.cpp's GGUF pair (text model + mmproj) from an HF checkpoint
          quantize <in.gguf|hf-folder> <out.gguf> --type q8_0|q4_0|q4_1|q5_0|q5_1|q2_k|q3_k|q4_k|q5_k|q6_k|q4_k_m|q5_k_m
                   [--pure] [--threads N]
                                  llama-quantize's per-tensor types and bytes (no imatrix)
          make-model --preset <tiny|qwen2-0.5b-shape|qwen2-7b-shape|tiny-v|minicpmv-2.6-shape|tiny-o|minicpmo-2.6-shape>
                     --dtype f32|f16|bf16|<quant type> --out <file.gguf|dir> [--seed S]
                                  write a deterministic random-weight model (GGUF [+ mmproj] or HF folder)
          tokenize --model <path> (--text T | --in F.jsonl) [--parse-special] [--out F.jsonl]
                                  token ids as JSON lines {"text":…,"ids":[…]}
          golden <case-dir> [--threads N] [--device cpu|cuda[:N]]
                                  run a golden case folder (llm, vision, resampler, multimodal, audio) and compare
                                  every tensor with its tolerance
          logits --model <path> (--tokens 1,2,3 | --prompt <text>) [--out <file>] [--device cpu|cuda[:N]]
                                  float32 logits at every position as JSON
          bench --model <path> [--prompt-tokens 128] [--gen 64] [--threads 2] [--runs 5] [--kv-tokens N] [--weights-in-memory]
                                  prefill and greedy-decode tokens/s (medians), peak RSS vs file size + KV cache, as JSON
        """;
}
