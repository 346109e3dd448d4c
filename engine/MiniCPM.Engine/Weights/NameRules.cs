using System.Text.RegularExpressions;

namespace MiniCPM.Engine.Weights;

/// <summary>An ordered table of (file-name pattern → internal-name template) rules; the first match wins.</summary>
internal sealed class NameRules((string Pattern, string Target)[] rules)
{
    private readonly (Regex Pattern, string Target)[] _rules =
        rules.Select(r => (new Regex(r.Pattern, RegexOptions.CultureInvariant), r.Target)).ToArray();

    /// <summary>The internal name for <paramref name="fileName"/>, or null when no rule matches.</summary>
    public string? Translate(string fileName)
    {
        foreach (var (pattern, target) in _rules)
        {
            var match = pattern.Match(fileName);
            if (match.Success) return match.Result(target);
        }
        return null;
    }
}
