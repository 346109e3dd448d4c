using MiniCPM.Engine.Errors;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models;

/// <summary>
/// What a model puts on a GPU when it loads is made all or nothing: if any step fails (the device out of memory, a
/// malformed tensor halfway through the file), every buffer uploaded so far is freed before the error propagates, so a
/// device shared with other models is left as it was. A refused allocation becomes a
/// <see cref="GpuOutOfMemoryException"/> naming what was loading.
/// </summary>
internal static class DeviceAllocation
{
    /// <summary>Advice for the parts loaded beside a language model (vision tower, audio encoder).</summary>
    public const string EncoderAdvice = "Leave it room (a smaller quantization of the language model, or a smaller KV cache), or use --device cpu.";

    /// <summary>
    /// Replaces a long-lived object's growable buffer(s) in <paramref name="field"/> with what <paramref name="build"/>
    /// makes. The old one is freed first (room on a full device) and the field stays null until the new one exists, so
    /// a refusal never leaves a freed buffer in use: the next call tries again. Detached from any enclosing scope.
    /// </summary>
    public static T Replace<T>(ref T? field, GpuDevice device, string what, string advice, Func<T> build) where T : class, IDisposable
    {
        field?.Dispose();
        field = null;
        return field = Run(device, what, advice, build, outlivesOuterScopes: true);
    }

    /// <param name="outlivesOuterScopes">What <paramref name="build"/> makes belongs to a long-lived object (working
    /// buffers grown during a pass): see <see cref="GpuDevice.AllOrNothing{T}"/>.</param>
    public static T Run<T>(GpuDevice device, string what, string advice, Func<T> build, bool outlivesOuterScopes = false)
    {
        try
        {
            return device.AllOrNothing(build, outlivesOuterScopes);
        }
        catch (GpuAllocationException e)
        {
            throw GpuOutOfMemoryException.From(e, what, advice);
        }
    }
}
