namespace MiniCPM.Engine.Generation;

/// <summary>Sees the raw logits each token is chosen from (step 0 = the prompt's last position), before any
/// processing; for golden comparisons and debugging. The span is only valid during the call.</summary>
public delegate void StepLogitsObserver(int step, ReadOnlySpan<float> logits);
