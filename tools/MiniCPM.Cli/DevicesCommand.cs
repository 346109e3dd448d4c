using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Cli;

/// <summary>
/// `minicpm devices`: what `--device` can name on this machine — the CPU backend (threads, SIMD width) and every CUDA
/// and OpenCL device the drivers list, each with whether the GPU kernels can run on it and why not (llama.cpp's
/// `--list-devices`). Exit 0 whatever is found; a missing driver is a line, not an error.
/// </summary>
internal static class DevicesCommand
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length != 0)
        {
            error.WriteLine("usage: minicpm devices");
            return 2;
        }
        output.WriteLine($"cpu        the CPU backend: {Environment.ProcessorCount} hardware threads, {Simd()}");
        var catalog = GpuDeviceCatalog.Discover();
        foreach (var d in catalog.Devices)
        {
            output.WriteLine($"{d.Name,-10} {d.Description}, {d.MemoryBytes / (1L << 20):N0} MiB, {d.Features}");
            output.WriteLine(d.Unusable is null ? "           usable" : $"           not usable: {d.Unusable}");
        }
        foreach (var note in catalog.Notes) output.WriteLine($"           {note}");
        output.WriteLine("(`--device simulator` is ILGPU's CPU simulator of the GPU kernels: for tests, very slow)");
        return 0;
    }

    private static string Simd() =>
        Avx512F.IsSupported ? "AVX-512" :
        Avx2.IsSupported ? "AVX2" :
        Vector128.IsHardwareAccelerated ? "128-bit SIMD" : "no SIMD acceleration";
}
