namespace MiniCPM.Cli;

/// <summary>Ctrl+C cancels the running generation (instead of killing the process), once per scope.</summary>
internal sealed class ConsoleCancellation : IDisposable
{
    private readonly CancellationTokenSource _source = new();

    private ConsoleCancellation() => Console.CancelKeyPress += OnCancel;

    public static ConsoleCancellation Create() => new();

    public CancellationToken Token => _source.Token;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_source.IsCancellationRequested) return; // a second Ctrl+C ends the process as usual
        e.Cancel = true;
        _source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        _source.Dispose();
    }
}
