namespace MiniCPM.Engine.Errors;

/// <summary>
/// Image placeholder tokens that do not pair up (a start without its end, an end without a start, nested starts) —
/// e.g. a prompt that spells out <c>&lt;image&gt;</c> itself — or placeholder runs that do not match the images given.
/// </summary>
public sealed class ImagePlaceholderException : MiniCpmException
{
    public ImagePlaceholderException(string message) : base(message) { }
}
