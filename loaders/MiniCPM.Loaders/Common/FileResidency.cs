namespace MiniCPM.Loaders;

/// <summary>Where a model file's bytes live while it is open.</summary>
public enum FileResidency
{
    /// <summary>
    /// A read-only memory map of the file (zero copy; pages come from the OS page cache and are shared between
    /// processes). The default.
    /// </summary>
    Mapped,

    /// <summary>
    /// The file is read once into anonymous memory (2 MiB aligned, transparent huge pages requested on Linux), still in
    /// its own dtype. Costs the read at load time; on virtual machines where file-backed pages are small (every TLB miss
    /// a two-level page walk) weight streaming runs several times faster from it. Resident memory is the file size,
    /// as with a fully touched mapping.
    /// </summary>
    InMemory,
}
