using MiniCPM.KernelSass;

namespace MiniCPM.Gpu.Tests.Tools;

/// <summary>
/// The SASS reader behind tools/MiniCPM.KernelSass, on listings written in cuobjdump's layout: the loops it finds and
/// the memory round trips it counts per iteration, which is what told the fetched-ahead int8 matvec from the one whose
/// loads ptxas had split in two.
/// </summary>
public sealed class SassListingTests
{
    private static string Listing(params string[] instructions) =>
        "\tcode for sm_90\n" + string.Concat(instructions.Select((text, i) =>
            $"        /*{16 * i:x4}*/                   {text} ;                 /* 0x000000000000000000 */\n"));

    [Fact]
    public void ReadsAddressesPredicatesOpcodesAndOperands()
    {
        var listing = SassListing.Parse(Listing("MOV R1, c[0x0][0x28]", "@!P1 LDG.E.128 R8, desc[UR6][R8.64+-0x10]", "EXIT"));

        Assert.Equal(3, listing.Instructions.Count);
        var load = listing.Instructions[1];
        Assert.Equal((0x10, "LDG.E.128", "LDG"), (load.Address, load.Opcode, load.Mnemonic));
        var (written, read) = SassListing.Registers(load);
        Assert.Equal([8, 9, 10, 11], written);
        Assert.Equal([8], read);
    }

    [Fact]
    public void FindsOnlyInnermostLoops()
    {
        var listing = SassListing.Parse(Listing(
            "MOV R0, RZ", // 0x00
            "IADD3 R0, R0, 0x1, RZ", // 0x10: outer loop starts
            "IADD3 R2, R2, 0x1, RZ", // 0x20: inner loop starts
            "ISETP.GE.AND P0, PT, R2, 0x8, PT",
            "@!P0 BRA 0x20", // 0x40: closes the inner loop
            "ISETP.GE.AND P1, PT, R0, 0x4, PT",
            "@!P1 BRA 0x10", // 0x60: closes the outer loop
            "EXIT"));

        var loop = Assert.Single(listing.Loops());
        Assert.Equal([0x20, 0x30, 0x40], loop.Select(i => i.Address));
    }

    /// <summary>The shape ptxas gave Q4_0 after 08c1a68: three loads, dp4a on them (a stall), then the rest of the
    /// block's loads, which the same iteration computes with — two round trips.</summary>
    [Fact]
    public void LoadsIssuedAfterAStallOnAnEarlierLoadCostASecondRoundTrip()
    {
        var loop = SassListing.Parse(Listing(
            "IADD3 R30, R30, 0x20, RZ",
            "LDG.E.128 R8, desc[UR6][R20.64]",
            "LDG.E.128 R12, desc[UR6][R22.64]",
            "IDP.4A.S8.S8 R28, R8, R12, RZ",
            "LDG.E.128 R16, desc[UR6][R24.64]",
            "LDG.E R6, desc[UR6][R26.64]",
            "IDP.4A.S8.S8 R28, R16, R13, R28",
            "FFMA R4, R6, R28, R4",
            "BRA 0x0")).Loops().Single();

        Assert.Equal(2, SassListing.LoadWaves(loop));
        Assert.Equal("LDG×2 IDP LDG×2 IDP FFMA", SassListing.Summary(loop));
    }

    /// <summary>Fetched ahead: this iteration computes with last iteration's registers, loads the next block's, and
    /// moves them into place at the end — the move waits, but nothing after it is computed with: one round trip.</summary>
    [Fact]
    public void LoadsFetchedForTheNextIterationCostOneRoundTrip()
    {
        var loop = SassListing.Parse(Listing(
            "LDG.E.128 R40, desc[UR6][R20.64]",
            "LDG.E.128 R44, desc[UR6][R22.64]",
            "IDP.4A.S8.S8 R28, R8, R12, RZ",
            "FFMA R4, R6, R28, R4",
            "IMAD.MOV.U32 R8, RZ, RZ, R40",
            "MOV R12, R44",
            "LDG.E R46, desc[UR6][R26.64]",
            "MOV R6, R46",
            "BRA 0x0")).Loops().Single();

        Assert.Equal(1, SassListing.LoadWaves(loop));
    }
}
