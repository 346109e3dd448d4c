using MiniCPM.Engine;
using MiniCPM.Engine.Errors;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm chat --model PATH [options]`: an interactive conversation on standard input. Each line is a user turn;
/// `/reset` starts over, `/exit` (or end of input) quits; Ctrl+C stops the reply being written.
/// </summary>
internal static class ChatCommand
{
    public const string Usage = "usage: minicpm chat [--system <text>]\n" + GenerationArguments.Help;

    public static int Run(string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        GenerationArguments parsed;
        string? system = null;
        try
        {
            parsed = GenerationArguments.Parse(args);
            for (int i = 0; i < parsed.Rest.Count; i++)
            {
                if (parsed.Rest[i] == "--system" && i + 1 < parsed.Rest.Count) system = parsed.Rest[++i];
                else throw new FormatException($"unexpected argument '{parsed.Rest[i]}'");
            }
            if (parsed.Model is null) throw new FormatException("--model is required");
        }
        catch (FormatException e)
        {
            error.WriteLine($"minicpm chat: {e.Message}");
            error.WriteLine(Usage);
            return 2;
        }

        return CliErrors.Guard("chat", error, () =>
        {
            using var model = MiniCpm.Load(parsed.Model, parsed.LoadOptions);
            using var session = model.CreateChat(new() { SystemPrompt = system, Generation = parsed.Generation });
            error.WriteLine($"loaded {parsed.Model}: {model.Config.Layers} layers, hidden {model.Config.HiddenSize}. /reset starts over, /exit quits.");
            while (true)
            {
                output.Write("> ");
                output.Flush();
                var line = input.ReadLine();
                if (line is null || line.Trim() == "/exit") return 0;
                if (line.Trim() == "/reset")
                {
                    session.Reset();
                    continue;
                }
                if (line.Length == 0) continue;
                session.AddUser(line);
                using var cancel = ConsoleCancellation.Create();
                try
                {
                    GenerateCommand.StreamAsync(session.StreamReplyAsync(parsed.Generation, cancel.Token), output).GetAwaiter().GetResult();
                    output.WriteLine();
                }
                catch (OperationCanceledException)
                {
                    output.WriteLine();
                    error.WriteLine("[stopped; the turn was rolled back]");
                }
                catch (MiniCpmException e)
                {
                    // The session rolls back a failed turn; the conversation goes on.
                    output.WriteLine();
                    error.WriteLine($"[{e.Message}]");
                }
            }
        });
    }
}
