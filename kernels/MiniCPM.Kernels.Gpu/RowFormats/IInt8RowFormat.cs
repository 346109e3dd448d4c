namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// A weight format with a 32-value block that multiplies int8 activation blocks (<see cref="Int8Blocks"/>) by integer
/// dot products (dp4a); a K-quant's 256-value super-block is eight such blocks. A block's dot product comes in two
/// halves, <see cref="Fetch"/> (every global load of it) and <see cref="Dot"/> (arithmetic only), so that
/// <see cref="Int8MatVecKernel"/> can issue all the loads of its next block before it computes the current one.
/// </summary>
/// <typeparam name="TWords">The loaded words of one row's block, held in registers.</typeparam>
public interface IInt8RowFormat<TWords> where TWords : struct
{
    /// <summary>The words block <paramref name="block"/> of <paramref name="row"/> is computed from.</summary>
    TWords Fetch(int row, int block);

    /// <summary>The block's whole contribution to row · x: d_x·d_w·Σ w_q·x_q, with offsets paid through Σx_q and mins
    /// through Σx_q or Q8_1's s; <paramref name="block"/> is the one <paramref name="words"/> were fetched for.</summary>
    float Dot(TWords words, int block, Int8ActivationBlock x);
}

/// <summary>Host-side look-ups on <see cref="IInt8RowFormat{TWords}"/> for code that builds kernels by reflection
/// (the PTX tests, tools/MiniCPM.KernelSass).</summary>
public static class Int8RowFormat
{
    /// <summary>The words type <paramref name="format"/> fetches (its <see cref="IInt8RowFormat{TWords}"/> argument).</summary>
    public static Type WordsOf(Type format)
    {
        ArgumentNullException.ThrowIfNull(format);
        return format.GetInterfaces().Single(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IInt8RowFormat<>))
            .GetGenericArguments()[0];
    }
}
