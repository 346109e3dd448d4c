using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace MiniCPM.Kernels.Gpu;

/// <summary>One device a <c>--device</c> name can open, as <see cref="GpuDeviceCatalog"/> found it.</summary>
/// <param name="Name">What <see cref="GpuDevice.Open"/> takes: "cuda:0", "opencl:1".</param>
/// <param name="Description">The driver's name for it.</param>
/// <param name="Features">Compute capability and tensor cores (CUDA), versions (OpenCL), multiprocessors.</param>
/// <param name="Unusable">Why the kernels cannot run on it, or null when they can.</param>
public sealed record GpuDeviceEntry(string Name, string Description, long MemoryBytes, string Features, string? Unusable);

/// <summary>
/// The CUDA and OpenCL devices of this machine, each with whether the kernels can run on it and why not, for
/// <c>minicpm devices</c> (llama.cpp's <c>--list-devices</c>). Nothing is opened for CUDA (device properties
/// only); an OpenCL device is opened once to learn whether ILGPU can compile for it. Never throws: a missing driver
/// becomes a note.
/// </summary>
public sealed record GpuDeviceCatalog(IReadOnlyList<GpuDeviceEntry> Devices, IReadOnlyList<string> Notes)
{
    public static GpuDeviceCatalog Discover()
    {
        DriverLibraryFallback.Install();
        var devices = new List<GpuDeviceEntry>();
        var notes = new List<string>();
        Collect("CUDA", builder => builder.Cuda(), context => Cuda(context), devices, notes);
        Collect("OpenCL", builder => builder.OpenCL(_ => true), context => OpenCL(context), devices, notes);
        return new GpuDeviceCatalog(devices, notes);
    }

    private static void Collect(string kind, Action<Context.Builder> configure, Func<Context, List<GpuDeviceEntry>> list,
        List<GpuDeviceEntry> devices, List<string> notes)
    {
        try
        {
            using var context = Context.Create(configure);
            var found = list(context);
            if (found.Count == 0) notes.Add($"{kind}: no device (or no driver) found");
            devices.AddRange(found);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            notes.Add($"{kind}: the driver could not be loaded: {e.Message}");
        }
    }

    private static List<GpuDeviceEntry> Cuda(Context context)
    {
        var entries = new List<GpuDeviceEntry>();
        var devices = context.GetCudaDevices();
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            var arch = d.Architecture;
            string capability = arch is { } a ? $"compute capability {a.Major}.{a.Minor}" : "compute capability unknown to ILGPU";
            bool tensorCores = arch is { } b && b >= CudaArchitecture.SM_80;
            string features = $"{capability}, {d.NumMultiprocessors} SMs, " +
                (tensorCores ? "TF32 tensor cores (prefill and encoders use them)" : "no TF32 tensor cores (CUDA-core matmuls)");
            entries.Add(new GpuDeviceEntry($"cuda:{i}", d.Name, d.MemorySize, features,
                GpuDevice.UnmetRequirement(d.WarpSize, d.MaxNumThreadsPerGroup, d.MaxSharedMemoryPerGroup)));
        }
        return entries;
    }

    private static List<GpuDeviceEntry> OpenCL(Context context)
    {
        var entries = new List<GpuDeviceEntry>();
        var devices = context.GetCLDevices();
        for (int i = 0; i < devices.Count; i++)
        {
            var cl = devices[i];
            var reasons = new List<string>();
            using (var accelerator = GpuDevice.TryOpenCL(context, cl, i, reasons)) { }
            entries.Add(new GpuDeviceEntry($"opencl:{i}", cl.Name, cl.MemorySize,
                $"OpenCL {cl.DeviceVersion}, OpenCL C {cl.CVersion.ToString().Replace("CL", "")}, {cl.NumMultiprocessors} compute units",
                reasons.Count > 0 ? reasons[0] : null));
        }
        return entries;
    }
}
