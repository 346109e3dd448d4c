namespace MiniCPM.Engine.Images;

/// <summary>
/// The eight EXIF orientations (tag 0x0112, values 1–8; SkiaSharp's SKEncodedOrigin uses the same numbers): where the
/// stored image's first row and first column end up when the picture is shown upright. <see cref="Apply"/> turns
/// stored pixels into displayed pixels, as PIL's ImageOps.exif_transpose does.
/// </summary>
public static class ExifOrientation
{
    public static RgbImage Apply(RgbImage stored, int orientation)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (orientation is < 1 or > 8 || orientation == 1) return stored;

        int ws = stored.Width, hs = stored.Height;
        bool swapsSides = orientation >= 5;
        var shown = RgbImage.Create(swapsSides ? hs : ws, swapsSides ? ws : hs);
        for (int ys = 0; ys < hs; ys++)
        {
            for (int xs = 0; xs < ws; xs++)
            {
                var (xd, yd) = orientation switch
                {
                    2 => (ws - 1 - xs, ys),               // mirrored left-right
                    3 => (ws - 1 - xs, hs - 1 - ys),      // upside down
                    4 => (xs, hs - 1 - ys),               // mirrored top-bottom
                    5 => (ys, xs),                        // transposed: first row on the left, first column on top
                    6 => (hs - 1 - ys, xs),               // first row on the right: rotate 90° clockwise to view
                    7 => (hs - 1 - ys, ws - 1 - xs),      // transverse
                    _ => (ys, ws - 1 - xs),               // 8: first row on the left, first column at the bottom
                };
                Array.Copy(stored.Pixels, stored.Offset(xs, ys), shown.Pixels, shown.Offset(xd, yd), RgbImage.Channels);
            }
        }
        return shown;
    }
}
