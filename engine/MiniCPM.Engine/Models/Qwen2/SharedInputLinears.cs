using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// Linear layers that read the same input (a decoder's q, k, v; its MLP gate and up). For one token they run as one
/// <see cref="MatMul.MatVecShared"/>: the input is quantized once and the thread pool dispatched once for all of
/// them — a decode step is hundreds of small products, and each separate call pays both again. Prefill (many tokens)
/// and int4 layers take the layers one by one, as before.
/// </summary>
internal sealed class SharedInputLinears
{
    private readonly Linear[] _layers;
    private readonly MatVecTarget[] _targets; // refilled per call: the outputs are the caller's (growable) scratch
    private readonly bool _canShare;

    public SharedInputLinears(params Linear[] layers)
    {
        if (layers.Length is 0 or > MatMul.MaxSharedTargets)
            throw new ArgumentException($"{layers.Length} layers; 1 to {MatMul.MaxSharedTargets} can share an input", nameof(layers));
        _layers = layers;
        _targets = new MatVecTarget[layers.Length];
        _canShare = layers.All(l => l.Matrix is not null && l.Inputs == layers[0].Inputs);
    }

    /// <summary>outputs[i][t·rowsᵢ ..] = layer i applied to each of the <paramref name="tokens"/> rows of x.</summary>
    public void Apply(ReadOnlySpan<float> x, int tokens, ReadOnlySpan<float[]> outputs, CpuThreadPool? pool, ActivationPrecision activations)
    {
        if (outputs.Length != _layers.Length)
            throw new ArgumentException($"{outputs.Length} outputs for {_layers.Length} layers", nameof(outputs));
        if (tokens != 1 || !_canShare)
        {
            for (int i = 0; i < _layers.Length; i++) _layers[i].Apply(x, tokens, outputs[i], pool, activations);
            return;
        }
        for (int i = 0; i < _layers.Length; i++)
        {
            var layer = _layers[i];
            _targets[i] = new MatVecTarget(layer.Matrix!.Value, outputs[i].AsMemory(0, layer.Outputs), layer.Bias);
        }
        MatMul.MatVecShared(x[.._layers[0].Inputs], _targets, pool, activations);
    }
}
