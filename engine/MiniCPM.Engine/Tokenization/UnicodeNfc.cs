using System.Globalization;
using System.Text;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Unicode Normalization Form C (UAX #15): canonical decomposition, canonical ordering, canonical composition.
/// </summary>
/// <remarks>
/// Why our own: the project builds with InvariantGlobalization, and in that mode <see cref="string.Normalize()"/>
/// silently returns non-ASCII text unchanged, so Qwen2's NFC normalizer would be skipped without any error.
/// The tables (NfcTables.Data.cs) are generated from the Unicode Character Database by tools/unicode/make_nfc_tables.py;
/// Hangul syllables are (de)composed algorithmically as the standard prescribes.
/// </remarks>
internal static partial class UnicodeNfc
{
    // Hangul constants from the Unicode standard, §3.12.
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Tables Data = Tables.Parse(TableText);

    /// <summary>Returns the NFC form of <paramref name="text"/>. Lone surrogates pass through unchanged.</summary>
    public static string Normalize(string text)
    {
        // Every code point below U+0300 is a starter that is already in NFC and never composes with what precedes it.
        if (IsTriviallyNormalized(text)) return text;

        var codePoints = Decompose(text);
        SortCombiningMarks(codePoints);
        Compose(codePoints);

        var sb = new StringBuilder(text.Length);
        foreach (var cp in codePoints)
        {
            if (cp < 0x10000) sb.Append((char)cp); // also a lone surrogate, kept as it came
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private static bool IsTriviallyNormalized(string text)
    {
        foreach (var c in text)
            if (c >= 0x300) return false;
        return true;
    }

    private static List<int> Decompose(string text)
    {
        var result = new List<int>(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                cp = char.ConvertToUtf32(text[i], text[++i]);

            if (cp >= SBase && cp < SBase + SCount)
            {
                var s = cp - SBase;
                result.Add(LBase + s / NCount);
                result.Add(VBase + s % NCount / TCount);
                if (s % TCount != 0) result.Add(TBase + s % TCount);
            }
            else if (Data.Decompositions.TryGetValue(cp, out var parts)) result.AddRange(parts);
            else result.Add(cp);
        }
        return result;
    }

    /// <summary>Canonical ordering: a stable sort of every run of non-starters by combining class.</summary>
    private static void SortCombiningMarks(List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var cc = CombiningClass(cps[i]);
            if (cc == 0) continue;
            // Insertion sort: move left past marks with a strictly higher class (equal classes keep their order).
            for (var j = i; j > 0; j--)
            {
                var prev = CombiningClass(cps[j - 1]);
                if (prev <= cc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    /// <summary>Canonical composition: join each mark to the last starter unless an intervening mark blocks it.</summary>
    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        var starterIndex = 0;
        // A leading non-starter has no starter to join; 256 is above every class, so it blocks all composition.
        var lastClass = CombiningClass(cps[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var cp = cps[read];
            var cc = CombiningClass(cp);
            // lastClass == 0 means the starter is the character just before this one.
            var unblocked = lastClass == 0 || lastClass < cc;
            if (unblocked && TryCompose(cps[starterIndex], cp, out var composite))
            {
                cps[starterIndex] = composite;
                continue;
            }
            if (cc == 0) starterIndex = write;
            lastClass = cc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first >= LBase && first < LBase + LCount && second >= VBase && second < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first >= SBase && first < SBase + SCount && (first - SBase) % TCount == 0
            && second > TBase && second < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return Data.Composites.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static int CombiningClass(int cp)
    {
        if (cp < 0x300) return 0;
        return Data.CombiningClasses.TryGetValue(cp, out var cc) ? cc : 0;
    }

    private sealed class Tables
    {
        public Dictionary<int, int> CombiningClasses { get; } = new();
        public Dictionary<int, int[]> Decompositions { get; } = new();
        public Dictionary<long, int> Composites { get; } = new();

        public static Tables Parse(string text)
        {
            var tables = new Tables();
            foreach (var rawLine in text.Split('\n'))
            {
                var line = rawLine.Trim();
                if (line.Length == 0) continue;
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                switch (fields[0])
                {
                    case "c":
                        for (int cp = Hex(fields[1]), last = Hex(fields[2]); cp <= last; cp++)
                            tables.CombiningClasses[cp] = int.Parse(fields[3], CultureInfo.InvariantCulture);
                        break;
                    case "d":
                        tables.Decompositions[Hex(fields[1])] = fields.Skip(3).Select(Hex).ToArray();
                        break;
                    case "p":
                        tables.Composites[((long)Hex(fields[1]) << 21) | (uint)Hex(fields[2])] = Hex(fields[4]);
                        break;
                    default:
                        throw new InvalidDataException("Unknown NFC table line: " + line);
                }
            }
            return tables;
        }

        private static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
