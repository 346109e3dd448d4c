namespace MiniCPM.Engine.Benchmarking;

/// <summary>
/// One timed run: a prompt of <see cref="PromptTokens"/> in one pass, then <see cref="DecodeSteps"/> greedy steps of
/// one token each. <see cref="Tokens"/> are the greedy picks (the first from the prefill's logits), useful for
/// checking that two implementations followed the same path.
/// </summary>
public sealed record ThroughputRun(int PromptTokens, int DecodeSteps, double PrefillSeconds, double DecodeSeconds, int[] Tokens)
{
    public double PrefillTokensPerSecond => PromptTokens / PrefillSeconds;
    public double DecodeTokensPerSecond => DecodeSteps / DecodeSeconds;
}
