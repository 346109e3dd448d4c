using MiniCPM.Engine;
using MiniCPM.Engine.Generation;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm generate --model PATH --prompt TEXT [--chat] [options]`: streams a continuation of the prompt (raw text, or
/// with --chat a ChatML user turn and the assistant's reply). --image/--audio put media in that user turn (chat mode):
/// where the prompt has tags (<c>(&lt;image&gt;./&lt;/image&gt;)</c>, <c>(&lt;audio&gt;./&lt;/audio&gt;)</c>), else
/// before the text.
/// </summary>
internal static class GenerateCommand
{
    public const string Usage = "usage: minicpm generate (--prompt|-p) <text> [--chat] (with --image/--audio: chat mode)\n" + GenerationArguments.Help;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        GenerationArguments parsed;
        string? prompt = null;
        bool chat = false;
        try
        {
            parsed = GenerationArguments.Parse(args);
            for (int i = 0; i < parsed.Rest.Count; i++)
            {
                switch (parsed.Rest[i])
                {
                    case "--prompt" or "-p" when i + 1 < parsed.Rest.Count: prompt = parsed.Rest[++i]; break;
                    case "--chat": chat = true; break;
                    default: throw new FormatException($"unexpected argument '{parsed.Rest[i]}'");
                }
            }
            if (parsed.Model is null || prompt is null) throw new FormatException("--model and --prompt are required");
        }
        catch (FormatException e)
        {
            error.WriteLine($"minicpm generate: {e.Message}");
            error.WriteLine(Usage);
            return 2;
        }

        return CliErrors.Guard("generate", error, () =>
        {
            using var model = MiniCpm.Load(parsed.Model, parsed.LoadOptions);
            using var cancel = ConsoleCancellation.Create();
            FinishReason? finish;
            if (chat || parsed.Media.Count > 0) // media go into a user turn, as MiniCPM's chat() lays them out
            {
                using var session = model.CreateChat(new() { Generation = parsed.Generation });
                session.AddUser(prompt, parsed.Media);
                finish = StreamAsync(session.StreamReplyAsync(parsed.Generation, cancel.Token), output).GetAwaiter().GetResult();
            }
            else
            {
                var ids = model.Tokenizer.Encode(prompt);
                output.Write(prompt);
                finish = Stream(model.CreateGenerator().Stream(ids, parsed.Generation, cancellation: cancel.Token), output);
            }
            output.WriteLine();
            error.WriteLine($"[finished: {finish}]");
            return 0;
        });
    }

    internal static FinishReason? Stream(IEnumerable<GeneratedToken> tokens, TextWriter output)
    {
        FinishReason? finish = null;
        foreach (var token in tokens)
        {
            output.Write(token.Text);
            output.Flush();
            finish = token.Finish ?? finish;
        }
        return finish;
    }

    internal static async Task<FinishReason?> StreamAsync(IAsyncEnumerable<GeneratedToken> tokens, TextWriter output)
    {
        FinishReason? finish = null;
        await foreach (var token in tokens)
        {
            output.Write(token.Text);
            await output.FlushAsync();
            finish = token.Finish ?? finish;
        }
        return finish;
    }
}
