namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// Rows that stand in for the token embeddings of one placeholder run of a prompt: positions
/// [<see cref="Start"/>, <see cref="Start"/> + <see cref="Rows"/>) take <see cref="Values"/> (Rows × hidden,
/// row-major) instead of the embeddings of their placeholder ids — one image slice's resampler output, or one audio
/// chunk's pooled encoder output.
/// </summary>
public sealed record EmbeddingRun(int Start, int Rows, ReadOnlyMemory<float> Values)
{
    public int End => Start + Rows;
}
