namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// An operation on a weight matrix written once for every row format: <see cref="GpuMatrix.Accept{TVisitor}"/> turns
/// the matrix's <see cref="MiniCPM.Kernels.Formats.TensorType"/> into its row-format struct and calls back here, so the
/// only switch over types is there. Implement it with a struct carrying the operation's arguments and pass it by ref:
/// the JIT then compiles one copy per (visitor, format) pair, with neither boxing nor virtual calls per launch.
/// </summary>
internal interface IRowFormatVisitor
{
    /// <summary>A format without an int8-activation kernel.</summary>
    void Visit<TFormat>(TFormat format) where TFormat : struct, IRowFormat;

    /// <summary>A format that also has an int8-activation kernel. A separate entry because C# cannot test a generic
    /// argument for a further interface and then call a method constrained to it; operations that do not need
    /// <see cref="IInt8RowFormat{TWords}"/> forward to <see cref="Visit{TFormat}"/>.</summary>
    void VisitInt8<TFormat, TWords>(TFormat format) where TFormat : struct, IRowFormat, IInt8RowFormat<TWords> where TWords : struct;
}
