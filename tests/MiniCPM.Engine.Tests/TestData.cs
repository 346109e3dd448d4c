namespace MiniCPM.Engine.Tests;

/// <summary>
/// Locates the repository's test data (tests/golden, tests/data): under $MINICPM_REPO_ROOT when set, else the first
/// folder holding tests/golden above the test assembly's folder, else above the directory the program was started in
/// (a published test program run from elsewhere, e.g. /tmp/p/tests, with the repository root as the current directory;
/// xunit v3's runner moves the current directory to the assembly's folder, so the shell's $PWD tells where that was).
/// </summary>
internal static class TestData
{
    private static readonly Lazy<string> TestsRoot = new(() =>
    {
        if (Environment.GetEnvironmentVariable("MINICPM_REPO_ROOT") is { Length: > 0 } root)
        {
            var tests = Path.GetFullPath(Path.Combine(root, "tests"));
            if (Directory.Exists(Path.Combine(tests, "golden"))) return tests;
            throw new DirectoryNotFoundException($"MINICPM_REPO_ROOT={root}: no tests/golden there");
        }
        string[] starts = [AppContext.BaseDirectory, Directory.GetCurrentDirectory(), Environment.GetEnvironmentVariable("PWD") ?? ""];
        foreach (var start in starts.Where(Directory.Exists))
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "golden");
                if (Directory.Exists(candidate)) return Path.Combine(dir.FullName, "tests");
            }
        }
        throw new DirectoryNotFoundException(
            $"tests/golden not found above any of {string.Join(", ", starts.Where(d => d.Length > 0))}; set MINICPM_REPO_ROOT");
    });

    public static string GoldenCase(string name) => Path.Combine(TestsRoot.Value, "golden", name);

    public static IEnumerable<string> GoldenCaseNames =>
        Directory.GetDirectories(Path.Combine(TestsRoot.Value, "golden")).Select(Path.GetFileName).OfType<string>().Order();

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "minicpm-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
