using MiniCPM.Engine;
using MiniCPM.Engine.Errors;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm chat --model PATH [options]`: an interactive conversation on standard input. Each line is a user turn;
/// `/reset` starts over, `/exit` (or end of input) quits; Ctrl+C stops the reply being written. `/image FILE` and
/// `/audio FILE` attach media to the next message (--image/--audio attach them to the first).
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
            error.WriteLine($"loaded {parsed.Model}: {model.Config.Layers} layers, hidden {model.Config.HiddenSize}" +
                (model.Vision is not null ? ", vision tower" : "") + (model.Audio is not null ? ", audio encoder" : "") +
                ". /reset starts over, /image FILE and /audio FILE attach media to the next message, /exit quits.");
            var pending = new List<MiniCPM.Engine.Multimodal.ChatMedia>(parsed.Media);
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
                if (TryAttach(line, pending, error)) continue;
                try
                {
                    session.AddUser(line, pending);
                }
                catch (Exception e) when (e is MiniCpmException or Loaders.ModelFormatException)
                {
                    error.WriteLine($"[{e.Message}; the message was not added]");
                    pending.Clear();
                    continue;
                }
                pending.Clear();
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

    /// <summary>`/image FILE` or `/audio FILE`: reads the file for the next message (an unreadable file is reported).</summary>
    private static bool TryAttach(string line, List<MiniCPM.Engine.Multimodal.ChatMedia> pending, TextWriter error)
    {
        var trimmed = line.Trim();
        bool image = trimmed.StartsWith("/image ", StringComparison.Ordinal), audio = trimmed.StartsWith("/audio ", StringComparison.Ordinal);
        if (!image && !audio) return false;
        var path = trimmed[7..].Trim();
        try
        {
            pending.Add(image ? MiniCPM.Engine.Multimodal.ChatMedia.ImageFile(path) : MiniCPM.Engine.Multimodal.ChatMedia.AudioFile(path));
            error.WriteLine($"[{(image ? "image" : "audio")} {path} attached to the next message]");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"[cannot read {path}: {e.Message}]");
        }
        return true;
    }
}
