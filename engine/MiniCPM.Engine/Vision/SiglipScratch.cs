namespace MiniCPM.Engine.Vision;

/// <summary>Activation buffers of the SigLIP layers for one slice, grown to the largest slice seen.</summary>
internal sealed class SiglipScratch(int hidden, int intermediate)
{
    public float[] Normed { get; private set; } = [];
    public float[] Query { get; private set; } = [];
    public float[] Key { get; private set; } = [];
    public float[] Value { get; private set; } = [];
    public float[] Attention { get; private set; } = [];
    public float[] Widened { get; private set; } = [];

    public void EnsureRows(int rows)
    {
        int n = checked(rows * hidden);
        if (Normed.Length >= n) return;
        Normed = new float[n];
        Query = new float[n];
        Key = new float[n];
        Value = new float[n];
        Attention = new float[n];
        Widened = new float[checked(rows * intermediate)];
    }
}
