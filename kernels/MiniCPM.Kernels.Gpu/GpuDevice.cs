using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// One accelerator through ILGPU: "cuda[:N]", "opencl[:N]", or "cpu" (ILGPU's CPU simulator, which runs the same
/// kernels slowly, for tests). Owns the ILGPU context, the accelerator and the compiled kernels; every launch goes to
/// the accelerator's default stream in order, so host code only synchronizes when it reads results back.
/// </summary>
public sealed class GpuDevice : IDisposable
{
    private readonly Context _context;
    private GpuKernels? _kernels;

    private GpuDevice(Context context, Accelerator accelerator, string name)
    {
        _context = context;
        Accelerator = accelerator;
        Name = name;
    }

    public Accelerator Accelerator { get; }

    /// <summary>The name it was opened with, normalised ("cuda:0", "cpu").</summary>
    public string Name { get; }

    /// <summary>The accelerator's own description (e.g. "NVIDIA H200").</summary>
    public string Description => Accelerator.Name;

    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;
    public bool IsSimulator => Accelerator.AcceleratorType == AcceleratorType.CPU;
    public long MemoryBytes => Accelerator.MemorySize;

    /// <summary>The kernels, compiled for this accelerator on first use.</summary>
    public GpuKernels Kernels => _kernels ??= new GpuKernels(Accelerator);

    /// <summary>Whether a CUDA device can be opened here (a driver and at least one device); never throws.</summary>
    public static bool CudaAvailable(out string reason)
    {
        DriverLibraryFallback.Install();
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            int count = context.GetCudaDevices().Count;
            reason = count > 0 ? $"{count} CUDA device(s)" : "no CUDA device (or no CUDA driver) found";
            return count > 0;
        }
        catch (Exception e)
        {
            reason = "the CUDA driver could not be loaded: " + e.Message;
            return false;
        }
    }

    /// <summary>
    /// Opens "cpu" (alias "simulator"), "cuda", "cuda:N", "opencl" or "opencl:N". "opencl" alone takes the first OpenCL
    /// device the kernels can run on; "opencl:N" counts every device the driver lists (as clinfo does).
    /// </summary>
    /// <exception cref="GpuDeviceUnavailableException">Malformed name, no driver, or no such device.</exception>
    public static GpuDevice Open(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var (kind, index, indexGiven) = Parse(device);
        DriverLibraryFallback.Install();
        Context? context = null;
        try
        {
            context = Context.Create(builder =>
            {
                OfflinePtx.Configure(builder); // IEEE division and square root, as the CPU backend computes them
                switch (kind)
                {
                    case "cpu": builder.CPU(CPUDeviceKind.AMD); break; // 32-lane warps as the kernels assume; 8 per group (256 threads, the largest group)
                    case "cuda": builder.Cuda(); break;
                    // Every device the driver lists (ILGPU's default hides those it cannot use), so "opencl:N" counts
                    // as clinfo does and an unusable device is refused below with its reason, not as "no device".
                    default: builder.OpenCL(_ => true); break;
                }
            });
            Accelerator? accelerator = null;
            switch (kind)
            {
                case "cpu":
                    accelerator = context.CreateCPUAccelerator(0);
                    break;
                case "cuda":
                {
                    var devices = context.GetCudaDevices();
                    if (devices.Count == 0) throw new GpuDeviceUnavailableException(device, "no CUDA device (or no CUDA driver) was found");
                    if (index >= devices.Count) throw new GpuDeviceUnavailableException(device, $"there are {devices.Count} CUDA device(s)");
                    accelerator = devices[index].CreateAccelerator(context);
                    break;
                }
                default:
                {
                    var devices = context.GetCLDevices();
                    if (devices.Count == 0) throw new GpuDeviceUnavailableException(device, "no OpenCL device (or no OpenCL driver) was found");
                    if (index >= devices.Count) throw new GpuDeviceUnavailableException(device, $"there are {devices.Count} OpenCL device(s)");
                    var reasons = new List<string>();
                    foreach (int i in indexGiven ? [index] : Enumerable.Range(0, devices.Count))
                    {
                        accelerator = TryOpenCL(context, devices[i], i, reasons);
                        if (accelerator is null) continue;
                        index = i;
                        break;
                    }
                    if (accelerator is null) throw new GpuDeviceUnavailableException(device, string.Join("; ", reasons));
                    break;
                }
            }
            if (UnmetRequirement(accelerator) is { } unmet)
            {
                string what = $"{accelerator.Name}: {unmet}";
                accelerator.Dispose();
                throw new GpuDeviceUnavailableException(device, what);
            }
            return new GpuDevice(context, accelerator, kind == "cpu" ? "cpu" : $"{kind}:{index}");
        }
        catch (GpuDeviceUnavailableException)
        {
            context?.Dispose();
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context?.Dispose();
            throw new GpuDeviceUnavailableException(device, e.Message, e);
        }
    }

    /// <summary>An accelerator on OpenCL device <paramref name="index"/>, or null with why not added to
    /// <paramref name="reasons"/>: ILGPU's OpenCL backend needs OpenCL C 2.0 features (generic address space,
    /// sub-groups), and the kernels 32-lane sub-groups.</summary>
    internal static Accelerator? TryOpenCL(Context context, CLDevice cl, int index, List<string> reasons)
    {
        string which = $"OpenCL device {index} ({cl.Name}: OpenCL {cl.DeviceVersion}, OpenCL C {cl.CVersion.ToString().Replace("CL", "")})";
        Accelerator accelerator;
        try
        {
            accelerator = cl.CreateAccelerator(context);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            reasons.Add($"ILGPU cannot run kernels on {which}: {e.Message.TrimEnd('.')}");
            return null;
        }
        if (UnmetRequirement(accelerator) is { } unmet)
        {
            accelerator.Dispose();
            reasons.Add($"{which}: {unmet}");
            return null;
        }
        return accelerator;
    }

    /// <summary>Threads per warp the kernels are written for (shuffles over 32 lanes, two rows per warp).</summary>
    public const int RequiredWarpSize = MatMulKernel.Lanes;

    /// <summary>The largest group any kernel launches (8 warps).</summary>
    public const int RequiredThreadsPerGroup = 256;

    /// <summary>Shared memory per group the kernels are sized for: CUDA's static limit (the largest, split-K attention,
    /// takes 42 KiB).</summary>
    public const int RequiredSharedBytesPerGroup = 48 * 1024;

    private static string? UnmetRequirement(Accelerator a) => UnmetRequirement(a.WarpSize, a.MaxNumThreadsPerGroup, a.MaxSharedMemoryPerGroup);

    /// <summary>Why a device with these limits cannot run the kernels, or null when it can. A warp of another width
    /// would not fail: it would compute wrong sums, so it is refused up front.</summary>
    internal static string? UnmetRequirement(int warpSize, int maxThreadsPerGroup, long sharedBytesPerGroup)
    {
        if (warpSize != RequiredWarpSize)
            return $"its warps (sub-groups) are {warpSize} threads wide; the kernels are written for {RequiredWarpSize}";
        if (maxThreadsPerGroup < RequiredThreadsPerGroup)
            return $"it runs at most {maxThreadsPerGroup} threads per group; the kernels launch up to {RequiredThreadsPerGroup}";
        if (sharedBytesPerGroup < RequiredSharedBytesPerGroup)
            return $"it has {sharedBytesPerGroup} bytes of shared memory per group; the kernels need up to {RequiredSharedBytesPerGroup}";
        return null;
    }

    private static (string Kind, int Index, bool IndexGiven) Parse(string device)
    {
        string text = device.Trim().ToLowerInvariant();
        if (text == "simulator") text = "cpu"; // the engine's name for ILGPU's CPU accelerator ("cpu" there is the CPU backend)
        string kind = text;
        int index = 0;
        int colon = text.IndexOf(':');
        if (colon >= 0)
        {
            kind = text[..colon];
            if (!int.TryParse(text[(colon + 1)..], out index) || index < 0)
                throw new GpuDeviceUnavailableException(device, "the device index must be a non-negative integer (e.g. cuda:0)");
        }
        if (kind is not ("cpu" or "cuda" or "opencl"))
            throw new GpuDeviceUnavailableException(device, "unknown device kind (expected cpu, cuda[:N] or opencl[:N])");
        if (kind == "cpu" && colon >= 0)
            throw new GpuDeviceUnavailableException(device, "the CPU simulator takes no index");
        return (kind, index, colon >= 0);
    }

    /// <summary>A device buffer of <paramref name="length"/> elements (contents undefined: on a GPU whatever the memory
    /// last held; see <see cref="PoisonAllocations"/>), counted in <see cref="AllocatedBytes"/> until disposed.</summary>
    /// <exception cref="GpuAllocationException">Past <see cref="MemoryLimitBytes"/>, or the driver refused it (out of
    /// device memory); nothing was allocated.</exception>
    public MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long elements = Math.Max(1, length);
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        long bytes = elements > long.MaxValue / size ? long.MaxValue : elements * size;
        if (!_memory.TryAdmit(bytes))
            throw new GpuAllocationException(Name, bytes, AllocatedBytes, AvailableBytes,
                $"the device's memory limit is {ByteSize.Format(_memory.Limit!.Value)}");
        MemoryBuffer1D<T, Stride1D.Dense> buffer;
        try
        {
            buffer = Accelerator.Allocate1D<T>(elements);
        }
        catch (Exception e) when (IsRefusal(e))
        {
            _memory.Withdraw(bytes);
            throw new GpuAllocationException(Name, bytes, AllocatedBytes, AvailableBytes,
                $"the {(IsSimulator ? "host" : "device")} has no room for it ({e.Message.TrimEnd('.')})", e);
        }
        catch
        {
            _memory.Withdraw(bytes);
            throw;
        }
        _memory.Track(buffer, bytes);
        if (PoisonAllocations) buffer.View.MemSet(0xFF);
        return buffer;
    }

    private readonly DeviceMemoryLedger _memory = new();

    /// <summary>Whether an allocation failed for want of memory (or for an impossible size). Any other driver error (a
    /// context an earlier kernel broke) propagates as it is: it is not a matter of room.</summary>
    private static bool IsRefusal(Exception e) => e switch
    {
        CudaException cuda => cuda.Error == nameof(CudaError.CUDA_ERROR_OUT_OF_MEMORY) || cuda.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase),
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES
            or CLError.CL_OUT_OF_HOST_MEMORY or CLError.CL_INVALID_BUFFER_SIZE,
        OutOfMemoryException or ArgumentOutOfRangeException => true, // the simulator's host memory; a size ILGPU cannot take
        _ => false,
    };

    /// <summary>Bytes of the live buffers made through <see cref="Allocate{T}"/> (the engine's weights, caches and
    /// scratch on this device).</summary>
    public long AllocatedBytes => _memory.LiveBytes;

    /// <summary>
    /// At most this many bytes of live buffers (null: no limit but the device's): an allocation past it fails with
    /// <see cref="GpuAllocationException"/> before the driver is asked, e.g. to leave room for another process.
    /// </summary>
    public long? MemoryLimitBytes
    {
        get => _memory.Limit;
        set => _memory.Limit = value;
    }

    /// <summary>Free device memory as the driver reports it (CUDA); null where the driver does not say.</summary>
    public long? FreeBytes
    {
        get
        {
            if (Accelerator is not CudaAccelerator cuda) return null;
            try
            {
                return cuda.GetFreeMemory();
            }
            catch (CudaException)
            {
                return null;
            }
        }
    }

    /// <summary>What new buffers can still take: the driver's free memory and the room under
    /// <see cref="MemoryLimitBytes"/>, whichever is smaller; null when neither is known.</summary>
    public long? AvailableBytes
    {
        get
        {
            // OpenCL does not report free memory: its global memory less what the engine holds is the best bound.
            long? free = FreeBytes ?? (Accelerator.AcceleratorType == AcceleratorType.OpenCL ? Math.Max(0, MemoryBytes - AllocatedBytes) : null);
            if (MemoryLimitBytes is not { } limit) return free;
            long room = Math.Max(0, limit - AllocatedBytes);
            return free is { } f ? Math.Min(f, room) : room;
        }
    }

    /// <summary>Records this thread's allocations until disposed, freeing them unless completed (see
    /// <see cref="GpuAllocationScope"/>): a failed load leaves the device as it found it.</summary>
    public GpuAllocationScope BeginAllocationScope() => _memory.Begin();

    /// <summary>Runs <paramref name="build"/> in an allocation scope: if it throws, every buffer it made on this
    /// device is freed before the exception propagates. <paramref name="outlivesOuterScopes"/>: what it made belongs to
    /// a long-lived object (a model's working buffers grown during a pass), which an enclosing scope that fails later
    /// must not free; otherwise a completed build stays answerable to the enclosing scope, as a load's parts do.</summary>
    public T AllOrNothing<T>(Func<T> build, bool outlivesOuterScopes = false)
    {
        ArgumentNullException.ThrowIfNull(build);
        using var scope = _memory.Begin(detached: outlivesOuterScopes);
        var result = build();
        scope.Complete();
        return result;
    }

    /// <summary>
    /// Fill every new buffer with 0xFF bytes (NaN floats, −1 ints), so a kernel that reads what no one wrote fails
    /// loudly — also on the simulator, whose fresh memory is zero where a GPU's holds what an earlier user left.
    /// Default: MINICPM_GPU_POISON=1. For tests and debugging; it costs a memset per allocation.
    /// </summary>
    public bool PoisonAllocations { get; set; } = Environment.GetEnvironmentVariable("MINICPM_GPU_POISON") == "1";

    /// <summary>Uploads <paramref name="values"/> into a new buffer.</summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var buffer = Allocate<T>(values.Length);
        if (values.Length > 0) ((ArrayView<T>)buffer.View).SubView(0, values.Length).CopyFromCPU(values);
        return buffer;
    }

    /// <summary>Waits for every launch and copy queued so far.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    /// <summary>Whether <see cref="CaptureGraph"/> works here (CUDA only).</summary>
    public bool SupportsGraphs => IsCuda;

    /// <summary>
    /// Records the kernel launches <paramref name="launches"/> queues through <see cref="Kernels"/> into a
    /// <see cref="CudaGraph"/> instead of running them (see there for what the caller must keep fixed). The capture
    /// stream is created blocking, so a replay is ordered with default-stream copies on either side of it.
    /// </summary>
    /// <exception cref="NotSupportedException">Not a CUDA device.</exception>
    /// <exception cref="InvalidOperationException">The driver refused the capture; nothing was queued.</exception>
    public CudaGraph CaptureGraph(Action launches)
    {
        ArgumentNullException.ThrowIfNull(launches);
        if (Accelerator is not CudaAccelerator cuda) throw new NotSupportedException($"CUDA graphs need a CUDA device, not {Name}");
        _captureStream ??= cuda.CreateStream(StreamFlags.CU_STREAM_DEFAULT);
        IntPtr stream = ((CudaStream)_captureStream).StreamPtr;
        cuda.Bind();
        CudaDriver.Check(CudaDriver.BeginCapture(stream), "cuStreamBeginCapture");
        var kernels = Kernels;
        long before = kernels.Launches;
        IntPtr graph = IntPtr.Zero;
        bool recorded = false;
        int count = 0;
        try
        {
            kernels.Stream = _captureStream;
            launches();
            recorded = true;
        }
        finally
        {
            kernels.Stream = Accelerator.DefaultStream;
            count = (int)(kernels.Launches - before);
            kernels.UncountCapture(count); // recorded, not run: a replay counts them
            // Always leave capture mode, even when a launch threw: a stream stuck capturing fails every later call.
            int ended = CudaDriver.EndCapture(stream, out graph);
            if ((!recorded || ended != 0) && graph != IntPtr.Zero) CudaDriver.GraphDestroy(graph);
            if (recorded) CudaDriver.Check(ended, "cuStreamEndCapture");
        }
        try
        {
            CudaDriver.Check(CudaDriver.Instantiate(out var exec, graph), "cuGraphInstantiateWithFlags");
            return new CudaGraph(kernels, _captureStream, exec, count);
        }
        finally
        {
            CudaDriver.GraphDestroy(graph); // the instantiated graph no longer needs its template
        }
    }

    private AcceleratorStream? _captureStream;

    public void Dispose()
    {
        _captureStream?.Dispose();
        try
        {
            Accelerator.Dispose();
        }
        catch (CudaException)
        {
            // ILGPU keeps a kernel whose PTX the driver refused (GpuKernelCompilationException) and fails to unload its
            // never-loaded module here ("invalid resource handle"). Dispose must not throw: what ILGPU had not freed
            // before that kernel stays with the process.
        }
        _context.Dispose();
        _memory.Dispose();
    }
}
