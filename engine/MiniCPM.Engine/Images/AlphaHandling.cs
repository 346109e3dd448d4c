namespace MiniCPM.Engine.Images;

/// <summary>What happens to transparency when an image with alpha becomes RGB.</summary>
public enum AlphaHandling
{
    /// <summary>
    /// Keep the colour channels and ignore alpha — exactly PIL's <c>convert("RGB")</c>, which the HF reference path
    /// uses, so pixels match the reference (colours under fully transparent pixels show as stored). One known
    /// difference: a GIF's transparent palette index decodes to black here (SkiaSharp does not expose the colour),
    /// where PIL shows that index's palette colour; PNG palettes with transparency match PIL.
    /// </summary>
    Drop,

    /// <summary>Blend onto a white background: round((c·a + 255·(255 − a)) / 255) per channel.</summary>
    CompositeOnWhite,
}
