using System.Diagnostics;
using System.Text.RegularExpressions;
using MiniCPM.Kernels.Gpu;
using MiniCPM.KernelSass;

// minicpm-kernel-sass [--out DIR] [--ptxas DIR] [--arch sm_90] [FILTER]
//   Writes each decode kernel's PTX (as a CUDA device would receive it) to DIR, and with ptxas and cuobjdump found
//   (--ptxas, $MINICPM_PTXAS_DIR, ~/.cache/minicpm/cuda/bin from tools/get-ptxas.sh, or PATH) its SASS, then prints
//   registers, spills and each inner loop's issue order. No GPU needed. FILTER keeps kernels whose name contains it.
// minicpm-kernel-sass --listing FILE.sass...
//   The same loop lines for cuobjdump listings made elsewhere (another build, another ptxas).
string output = Path.Combine(Path.GetTempPath(), "minicpm-kernel-sass"), arch = "sm_90";
string? ptxasDir = Environment.GetEnvironmentVariable("MINICPM_PTXAS_DIR"), filter = null;
if (args.Length > 1 && args[0] == "--listing")
{
    Console.WriteLine("| listing | loop: instructions | memory round trips per iteration | loads and arithmetic in issue order |");
    Console.WriteLine("|---|---|---|---|");
    foreach (var file in args.Skip(1))
        foreach (var loop in SassListing.Parse(File.ReadAllText(file)).Loops().Where(l => l.Count >= 20))
            Console.WriteLine($"| {Path.GetFileName(file)} | {loop.Count} | {SassListing.LoadWaves(loop)} | {SassListing.Summary(loop)} |");
    return 0;
}
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--out" when i + 1 < args.Length: output = args[++i]; break;
        case "--ptxas" when i + 1 < args.Length: ptxasDir = args[++i]; break;
        case "--arch" when i + 1 < args.Length: arch = args[++i]; break;
        case var a when !a.StartsWith("--", StringComparison.Ordinal): filter = a; break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'. Usage: minicpm-kernel-sass [--out DIR] [--ptxas DIR] [--arch sm_90] [FILTER]");
            return 2;
    }
}

Directory.CreateDirectory(output);
string? ptxas = Tool("ptxas"), cuobjdump = Tool("cuobjdump");
if (ptxas is null || cuobjdump is null)
    Console.Error.WriteLine("ptxas/cuobjdump not found (tools/get-ptxas.sh fetches them): writing PTX only");

// An H200 issues at most one warp-instruction per scheduler per clock: 132 SMs × 4 × 1.98 GHz. A matvec loop of N
// instructions that streams B weight bytes per warp cannot go faster than that × B / N, whatever the memory does.
const double H200WarpInstructionsPerSecond = 132 * 4 * 1.98e9;
Console.WriteLine($"| kernel | registers | spill bytes | loop: instructions | memory round trips per iteration | loads and arithmetic in issue order | issue bound, H200 at 100% issue |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var kernel in DecodeKernels.All().Where(k => filter is null || k.Name.Contains(filter, StringComparison.Ordinal)))
{
    string ptxFile = Path.Combine(output, kernel.Name + ".ptx");
    File.WriteAllText(ptxFile, OfflinePtx.Compile(kernel.Method, kernel.ExplicitlyGrouped));
    if (ptxas is null || cuobjdump is null) { Console.WriteLine($"| {kernel.Name} | | | | | {ptxFile} |"); continue; }

    string cubin = Path.ChangeExtension(ptxFile, ".cubin");
    var (assembled, log) = Run(ptxas, $"-arch={arch} -O3 -v \"{ptxFile}\" -o \"{cubin}\"");
    if (!assembled) { Console.WriteLine($"| {kernel.Name} | ptxas failed: {log.ReplaceLineEndings(" ")} |"); continue; }
    string registers = Regex.Match(log, @"Used (\d+) registers").Groups[1].Value;
    string spills = Regex.Match(log, @"(\d+) bytes spill stores").Groups[1].Value;
    var (disassembled, sass) = Run(cuobjdump, $"-sass \"{cubin}\"");
    if (!disassembled) { Console.WriteLine($"| {kernel.Name} | cuobjdump failed: {sass.ReplaceLineEndings(" ")} |"); continue; }
    File.WriteAllText(Path.ChangeExtension(ptxFile, ".sass"), sass);
    var loops = SassListing.Parse(sass).Loops().Where(l => l.Count >= 20).ToList(); // the kernel's work, not its reductions
    if (loops.Count == 0) Console.WriteLine($"| {kernel.Name} | {registers} | {spills} | no loop | | | |");
    foreach (var loop in loops)
    {
        string bound = kernel.WeightBytesPerIteration is { } bytes ? $"{H200WarpInstructionsPerSecond * bytes / loop.Count / 1e12:F1} TB/s" : "";
        Console.WriteLine($"| {kernel.Name} | {registers} | {spills} | {loop.Count} | {SassListing.LoadWaves(loop)} | {SassListing.Summary(loop)} | {bound} |");
    }
}
Console.WriteLine($"files: {output}");
return 0;

string? Tool(string name)
{
    string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
    var folders = new[] { ptxasDir, Path.Combine(home, ".cache", "minicpm", "cuda", "bin") }
        .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator));
    return folders.Where(f => !string.IsNullOrEmpty(f)).Select(f => Path.Combine(f!, name)).FirstOrDefault(File.Exists);
}

static (bool Ok, string Output) Run(string program, string arguments)
{
    var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
    // cuobjdump runs the nvdisasm that sits beside it
    start.Environment["PATH"] = Path.GetDirectoryName(program) + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
    using var process = Process.Start(start)!;
    var stdout = process.StandardOutput.ReadToEndAsync();
    string stderr = process.StandardError.ReadToEnd();
    process.WaitForExit();
    return (process.ExitCode == 0, stdout.Result + stderr);
}
