namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// Activation buffers of one forward pass, sized for the batch's rows and grown only when a larger batch comes, so
/// steady-state decoding allocates nothing.
/// </summary>
internal sealed class Qwen2Scratch(int hidden, int kvWidth, int ffn, int vocab)
{
    public float[] Hidden = [];      // residual stream [rows, hidden]
    public float[] Normed = [];      // RMSNorm output [rows, hidden]
    public float[] Query = [];       // [rows, hidden]
    public float[] Key = [];         // [rows, kvWidth]
    public float[] Value = [];       // [rows, kvWidth]
    public float[] Attention = [];   // attention output before o_proj [rows, hidden]
    public float[] Projected = [];   // o_proj / down_proj output [rows, hidden]
    public float[] Gate = [];        // [rows, ffn]
    public float[] Up = [];          // [rows, ffn]
    public int[] Positions = [];     // absolute position of each row
    public int[] TableStarts = [];   // each row's block table offset in BlockTables
    public int[] BlockTables = [];   // the batch's block tables, concatenated
    public float[] LogitInput = [];  // final-normed rows that need logits [logitRows, hidden]
    public float[] Logits = [];      // [logitRows, vocab]

    public void EnsureRows(int rows)
    {
        Grow(ref Hidden, rows * hidden);
        Grow(ref Normed, rows * hidden);
        Grow(ref Query, rows * hidden);
        Grow(ref Key, rows * kvWidth);
        Grow(ref Value, rows * kvWidth);
        Grow(ref Attention, rows * hidden);
        Grow(ref Projected, rows * hidden);
        Grow(ref Gate, rows * ffn);
        Grow(ref Up, rows * ffn);
        Grow(ref Positions, rows);
        Grow(ref TableStarts, rows);
    }

    public void EnsureBlockTables(int entries) => Grow(ref BlockTables, entries);

    public void EnsureLogitRows(int rows)
    {
        Grow(ref LogitInput, rows * hidden);
        Grow(ref Logits, (long)rows * vocab);
    }

    private static void Grow<T>(ref T[] buffer, long length)
    {
        if (buffer.Length < length) buffer = GC.AllocateUninitializedArray<T>(checked((int)length));
    }
}
