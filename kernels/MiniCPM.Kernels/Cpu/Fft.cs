using System.Numerics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A complex discrete Fourier transform of one fixed length, X[k] = Σ_j x[j]·e^(−2πi·jk/n), by mixed-radix
/// decimation in time: n is split into its prime factors (radix 4 where two 2s pair up, then 2, 3, 5, and any other
/// prime with a plain O(p²) butterfly), so the cost is O(n·Σ factors) — Whisper's n_fft 400 = 4·4·5·5, its real
/// half 200 = 4·2·5·5. Computed in double; the plan (factors, twiddles) is built once and is safe to share.
/// </summary>
public sealed class Fft
{
    private readonly int[] _factors;
    private readonly Complex[] _roots; // e^(−2πi·k/n), k < n

    public Fft(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        Length = length;
        _factors = Factor(length);
        _roots = new Complex[length];
        for (int k = 0; k < length; k++)
        {
            double angle = -2 * Math.PI * k / length;
            _roots[k] = new Complex(Math.Cos(angle), Math.Sin(angle));
        }
    }

    public int Length { get; }

    /// <summary>The prime factors used, in the order the recursion splits by (radix 4 counted as one).</summary>
    public IReadOnlyList<int> Factors => _factors;

    /// <summary>Forward transform of <paramref name="input"/> into <paramref name="output"/> (distinct buffers of <see cref="Length"/>).</summary>
    public void Forward(ReadOnlySpan<Complex> input, Span<Complex> output)
    {
        if (input.Length != Length || output.Length != Length)
            throw new ArgumentException($"the transform is of length {Length}; input {input.Length}, output {output.Length}");
        if (input.Overlaps(output)) throw new ArgumentException("input and output must not overlap");
        Transform(input, 1, output, Length, 0);
    }

    /// <summary>
    /// Decimation in time: the p sub-sequences x[q], x[q+p], … (q &lt; p) are transformed (length m = n/p) into
    /// consecutive blocks of <paramref name="output"/>, then combined: X[k + r·m] = Σ_q W^(q·(k + r·m))·Y_q[k].
    /// </summary>
    private void Transform(ReadOnlySpan<Complex> input, int stride, Span<Complex> output, int n, int level)
    {
        if (n == 1)
        {
            output[0] = input[0];
            return;
        }
        int p = _factors[level], m = n / p;
        for (int q = 0; q < p; q++)
            Transform(input[(q * stride)..], stride * p, output.Slice(q * m, m), m, level + 1);

        int rootStep = Length / n; // W_n^e = roots[e·rootStep]
        Span<Complex> column = p <= 64 ? stackalloc Complex[p] : new Complex[p]; // a large prime radix goes to the heap
        for (int k = 0; k < m; k++)
        {
            // Twiddled inputs of the butterfly: t_q = W_n^(q·k)·Y_q[k].
            for (int q = 0; q < p; q++)
                column[q] = output[q * m + k] * _roots[(q * k % n) * rootStep];
            switch (p)
            {
                case 2:
                    output[k] = column[0] + column[1];
                    output[k + m] = column[0] - column[1];
                    break;
                case 4:
                    {
                        // W_4 = −i: X_r = Σ_q t_q·(−i)^(q·r).
                        Complex a = column[0] + column[2], b = column[0] - column[2];
                        Complex c = column[1] + column[3], d = column[1] - column[3];
                        Complex minusId = new(d.Imaginary, -d.Real);
                        output[k] = a + c;
                        output[k + m] = b + minusId;
                        output[k + 2 * m] = a - c;
                        output[k + 3 * m] = b - minusId;
                        break;
                    }
                default:
                    // Any radix: X_r = Σ_q t_q·W_p^(q·r), with W_p^e = roots[(e mod p)·(Length/p)].
                    int pStep = Length / p;
                    for (int r = 0; r < p; r++)
                    {
                        Complex sum = column[0];
                        for (int q = 1; q < p; q++) sum += column[q] * _roots[(q * r % p) * pStep];
                        output[k + r * m] = sum;
                    }
                    break;
            }
        }
    }

    /// <summary>Prime factors, pairs of 2s merged into 4s first (fewer, cheaper passes).</summary>
    private static int[] Factor(int n)
    {
        var factors = new List<int>();
        while (n % 4 == 0) { factors.Add(4); n /= 4; }
        for (int p = 2; n > 1; p++)
        {
            if ((long)p * p > n) p = n; // what is left is prime
            while (n % p == 0) { factors.Add(p); n /= p; }
        }
        return factors.ToArray();
    }
}
