namespace MiniCPM.Engine.Tests;

/// <summary>
/// Locates the repository's test data (tests/golden, tests/data): under $MINICPM_REPO_ROOT when set, else the first
/// folder holding tests/golden above the test assembly's folder, else above the current directory (a published test
/// program run from elsewhere, e.g. /tmp/p/tests, with the repository root as the current directory).
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
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "golden");
                if (Directory.Exists(candidate)) return Path.Combine(dir.FullName, "tests");
            }
        }
        throw new DirectoryNotFoundException(
            $"tests/golden not found above {AppContext.BaseDirectory} nor above {Directory.GetCurrentDirectory()}; set MINICPM_REPO_ROOT");
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
