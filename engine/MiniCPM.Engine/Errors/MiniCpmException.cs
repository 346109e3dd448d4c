namespace MiniCPM.Engine.Errors;

/// <summary>
/// Base of the engine's typed errors about what a caller asked for (a token the model does not have, a prompt longer
/// than the context, a full KV cache, a model without a tokenizer …), so an application can catch them in one place.
/// Malformed files are <see cref="Loaders.ModelFormatException"/>.
/// </summary>
public abstract class MiniCpmException : Exception
{
    protected MiniCpmException(string message, Exception? inner = null) : base(message, inner) { }
}
