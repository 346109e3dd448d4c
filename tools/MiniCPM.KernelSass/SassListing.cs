using System.Globalization;
using System.Text.RegularExpressions;

namespace MiniCPM.KernelSass;

/// <summary>One SASS instruction of a cuobjdump listing: its address, optional predicate, opcode and operands.</summary>
internal sealed record SassInstruction(int Address, string Opcode, string Operands)
{
    /// <summary>The opcode without modifiers: LDG for LDG.E.128, IDP for IDP.4A.S8.S8.</summary>
    public string Mnemonic => Opcode.Split('.')[0];
}

/// <summary>
/// A kernel's SASS as <c>cuobjdump -sass</c> prints it, read for what matters to a memory-bound kernel: the loops
/// (each backward branch closes one) and, per loop, the order in which its global loads and its arithmetic are issued.
/// An in-order SM issues a load only once the instructions before it have issued, so a load placed after arithmetic
/// that waits on an earlier load starts a second memory round trip in that iteration.
/// </summary>
internal sealed partial class SassListing
{
    public IReadOnlyList<SassInstruction> Instructions { get; }

    private SassListing(IReadOnlyList<SassInstruction> instructions) => Instructions = instructions;

    // "        /*07a0*/                   @!P1 LDG.E.128 R8, [R8.64] ;                 /* 0x... */"
    [GeneratedRegex(@"^\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[0-9T]+\s+)?([A-Z][A-Z0-9_.]*)\s*([^;]*);")]
    private static partial Regex InstructionLine();

    public static SassListing Parse(string listing)
    {
        var instructions = new List<SassInstruction>();
        foreach (var line in listing.Split('\n'))
        {
            var match = InstructionLine().Match(line);
            if (!match.Success) continue;
            instructions.Add(new SassInstruction(int.Parse(match.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                match.Groups[2].Value, match.Groups[3].Value.Trim()));
        }
        return new SassListing(instructions);
    }

    /// <summary>Every innermost loop body (one holding no other loop): from a backward branch's target to the branch,
    /// in address order.</summary>
    public IEnumerable<IReadOnlyList<SassInstruction>> Loops()
    {
        var spans = Spans().ToList();
        return spans.Where(s => !spans.Any(o => o != s && o.Start >= s.Start && o.End <= s.End))
            .Select(s => (IReadOnlyList<SassInstruction>)Instructions.Skip(s.Start).Take(s.End - s.Start + 1).ToList());
    }

    private IEnumerable<(int Start, int End)> Spans()
    {
        var index = Instructions.Select((instruction, i) => (instruction.Address, i)).ToDictionary(p => p.Address, p => p.i);
        for (int i = 0; i < Instructions.Count; i++)
        {
            var branch = Instructions[i];
            if (branch.Mnemonic != "BRA") continue;
            var target = Regex.Match(branch.Operands, @"0x([0-9a-f]+)");
            if (!target.Success) continue;
            int address = int.Parse(target.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (address < branch.Address && index.TryGetValue(address, out int start) && start < i)
                yield return (start, i);
        }
    }

    /// <summary>
    /// A loop's global loads (LDG), dp4a (IDP), float FMAs and constant loads (LDC) in issue order, runs counted:
    /// "LDG×4 IDP×16 FFMA×2". Other instructions are left out.
    /// </summary>
    public static string Summary(IEnumerable<SassInstruction> loop)
    {
        var kept = loop.Select(i => i.Mnemonic).Where(m => m is "LDG" or "IDP" or "FFMA" or "LDC" or "LDS" or "STG" or "BAR" or "SHFL");
        var runs = new List<(string Op, int Count)>();
        foreach (var op in kept)
        {
            if (runs.Count > 0 && runs[^1].Op == op) runs[^1] = (op, runs[^1].Count + 1);
            else runs.Add((op, 1));
        }
        return string.Join(" ", runs.Select(r => r.Count > 1 ? $"{r.Op}×{r.Count}" : r.Op));
    }

    /// <summary>
    /// Memory round trips one iteration of <paramref name="loop"/> waits on: 1, plus 1 for every load whose value the
    /// same iteration computes with (not merely copies: a fetched-ahead block is moved into place at the loop's end)
    /// that is issued after the iteration has already stalled on an earlier load. An in-order SM issues nothing past
    /// an instruction whose operand is still in flight, so such a load starts a second round trip. Loads all issued
    /// before the arithmetic that consumes them, or fetched for the next iteration, give 1. The listing is read in
    /// address order, so a loop with conditional blocks (the float matrix kernel's tokens 2–4) counts the waves of its
    /// longest path.
    /// </summary>
    public static int LoadWaves(IReadOnlyList<SassInstruction> loop)
    {
        var registers = loop.Select(Registers).ToArray();
        int waves = 1;
        bool stalled = false;
        var inFlight = new HashSet<int>();
        for (int i = 0; i < loop.Count; i++)
        {
            if (registers[i].Read.Any(inFlight.Contains)) stalled = true;
            if (loop[i].Mnemonic == "LDG")
            {
                if (stalled && ComputedWithLater(loop, registers, i)) { waves++; stalled = false; }
                inFlight.UnionWith(registers[i].Written);
            }
            else inFlight.ExceptWith(registers[i].Written);
        }
        return waves;
    }

    /// <summary>Whether an instruction after <paramref name="load"/> other than a plain move reads what it loaded
    /// before it is overwritten.</summary>
    private static bool ComputedWithLater(IReadOnlyList<SassInstruction> loop, (int[] Written, int[] Read)[] registers, int load)
    {
        var loaded = new HashSet<int>(registers[load].Written);
        for (int i = load + 1; i < loop.Count && loaded.Count > 0; i++)
        {
            bool move = loop[i].Mnemonic == "MOV" || loop[i].Opcode.StartsWith("IMAD.MOV", StringComparison.Ordinal);
            if (!move && registers[i].Read.Any(loaded.Contains)) return true;
            loaded.ExceptWith(registers[i].Written);
        }
        return false;
    }

    /// <summary>General registers an instruction writes (its first operand, 1-4 wide) and reads (the rest; every
    /// operand of a store, branch or barrier, which write none).</summary>
    internal static (int[] Written, int[] Read) Registers(SassInstruction instruction)
    {
        var operands = instruction.Operands.Split(',', StringSplitOptions.TrimEntries);
        int width = instruction.Opcode.Contains(".128") ? 4 : instruction.Opcode.Contains(".64") || instruction.Opcode.Contains(".WIDE") ? 2 : 1;
        bool writesNone = instruction.Mnemonic is "STG" or "STS" or "ST" or "RED" or "BRA" or "EXIT" or "BAR";
        int[] written = [];
        if (!writesNone && operands.Length > 0 && RegisterOperand().Match(operands[0]) is { Success: true } destination && !operands[0].StartsWith('['))
        {
            int first = int.Parse(destination.Groups[1].Value, CultureInfo.InvariantCulture);
            written = Enumerable.Range(first, width).ToArray();
        }
        var read = operands.Skip(writesNone ? 0 : 1)
            .SelectMany(o => RegisterOperand().Matches(o).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)))
            .ToArray();
        return (written, read);
    }

    // R8, R8.64, -R8, |R8|, R8.reuse, [R8.64+-0x10]; not RZ, UR4, P0, SR_*.
    [GeneratedRegex(@"(?<![A-Z_])R(\d+)")]
    private static partial Regex RegisterOperand();
}
