namespace MiniCPM.Gpu.Tests;

/// <summary>Locates the repository's test data (tests/golden, tests/data) from the test assembly's folder.</summary>
internal static class TestData
{
    private static readonly Lazy<string> TestsRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "golden");
            if (Directory.Exists(candidate)) return Path.Combine(dir.FullName, "tests");
        }
        throw new DirectoryNotFoundException("tests/golden not found above " + AppContext.BaseDirectory);
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
