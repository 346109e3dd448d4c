using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// A recorded sequence of kernel launches replayed by one driver call (a CUDA graph). ILGPU has no graph API; an
/// ILGPU launch costs about 5 µs of host time on an H200, so a 7B decode step's ~280 launches are ~1.4 ms of launch
/// overhead alone — as much as the step's memory traffic. Capture (<see cref="GpuDevice.CaptureGraph"/>) runs the
/// caller's launches on a stream of their own in the driver's capture mode: nothing executes, the driver records
/// kernels and their arguments (device addresses and scalars, baked in), and <see cref="Launch"/> replays them.
/// The caller owns the invariants: every buffer the launches touch must stay allocated at the same address, and
/// whatever changes between replays (token ids, positions, block tables) must be read by the kernels from device memory.
/// </summary>
public sealed class CudaGraph : IDisposable
{
    private readonly GpuKernels _kernels;
    private readonly AcceleratorStream _stream;
    private IntPtr _exec;

    internal CudaGraph(GpuKernels kernels, AcceleratorStream stream, IntPtr exec, int kernelCount)
    {
        _kernels = kernels;
        _stream = stream;
        _exec = exec;
        Kernels = kernelCount;
    }

    /// <summary>Kernel launches recorded in the graph.</summary>
    public int Kernels { get; }

    /// <summary>Queues the whole graph (ordered after earlier default-stream work and before later, like any launch).</summary>
    public void Launch()
    {
        ObjectDisposedException.ThrowIf(_exec == IntPtr.Zero, this);
        CudaDriver.Check(CudaDriver.GraphLaunch(_exec, ((CudaStream)_stream).StreamPtr), "cuGraphLaunch");
        _kernels.CountGraphLaunch(Kernels);
    }

    public void Dispose()
    {
        if (_exec == IntPtr.Zero) return;
        CudaDriver.GraphExecDestroy(_exec);
        _exec = IntPtr.Zero;
    }
}

/// <summary>The few CUDA driver entry points ILGPU does not wrap (graphs), bound from libcuda at first use.</summary>
internal static unsafe class CudaDriver
{
    private const int CaptureModeRelaxed = 2; // other threads' unrelated CUDA calls stay legal during a capture

    private static IntPtr Export(string name) => CudaLibrary.Find(name) is var f && f != IntPtr.Zero
        ? f
        : throw new EntryPointNotFoundException($"the CUDA driver library (libcuda) has no {name}, or could not be loaded");

    private static readonly delegate* unmanaged<IntPtr, int, int> BeginCaptureFn = (delegate* unmanaged<IntPtr, int, int>)Export("cuStreamBeginCapture_v2");
    private static readonly delegate* unmanaged<IntPtr, IntPtr*, int> EndCaptureFn = (delegate* unmanaged<IntPtr, IntPtr*, int>)Export("cuStreamEndCapture");
    private static readonly delegate* unmanaged<IntPtr*, IntPtr, ulong, int> InstantiateFn = (delegate* unmanaged<IntPtr*, IntPtr, ulong, int>)Export("cuGraphInstantiateWithFlags");
    private static readonly delegate* unmanaged<IntPtr, IntPtr, int> LaunchFn = (delegate* unmanaged<IntPtr, IntPtr, int>)Export("cuGraphLaunch");
    private static readonly delegate* unmanaged<IntPtr, int> ExecDestroyFn = (delegate* unmanaged<IntPtr, int>)Export("cuGraphExecDestroy");
    private static readonly delegate* unmanaged<IntPtr, int> GraphDestroyFn = (delegate* unmanaged<IntPtr, int>)Export("cuGraphDestroy");

    public static int BeginCapture(IntPtr stream) => BeginCaptureFn(stream, CaptureModeRelaxed);

    public static int EndCapture(IntPtr stream, out IntPtr graph)
    {
        IntPtr g;
        int result = EndCaptureFn(stream, &g);
        graph = g;
        return result;
    }

    public static int Instantiate(out IntPtr exec, IntPtr graph)
    {
        IntPtr e;
        int result = InstantiateFn(&e, graph, 0);
        exec = e;
        return result;
    }

    public static int GraphLaunch(IntPtr exec, IntPtr stream) => LaunchFn(exec, stream);
    public static int GraphExecDestroy(IntPtr exec) => ExecDestroyFn(exec);
    public static int GraphDestroy(IntPtr graph) => GraphDestroyFn(graph);

    public static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed with CUDA error {result}");
    }
}
