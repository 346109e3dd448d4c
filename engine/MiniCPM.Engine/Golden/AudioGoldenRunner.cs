using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Models.Qwen2Gpu;

namespace MiniCPM.Engine.Golden;

/// <summary>
/// The `audio` case (golden README §5): the 16 kHz waveform through Whisper log-mel, the encoder with the chunked
/// (config <c>audio_chunk_length</c>) and the full attention mask, the projection and the average pooling; the mask
/// itself and the frame/token counts. The encoder, projection and pooling run on the CPU, or on the GPU
/// (<see cref="Audio.Gpu.GpuWhisperEncoder"/>) when the options name a device.
/// </summary>
public sealed class AudioGoldenRunner(GoldenRunOptions options) : IGoldenCaseRunner
{
    public string CaseType => "audio";

    public void Run(GoldenCase goldenCase, GoldenOutputs outputs)
    {
        float[] waveform = goldenCase.ReadFloats("waveform");
        outputs.MarkInput("waveform");
        using var checkpoint = Checkpoint.Open(goldenCase.WeightsPath);
        using var device = options.OnGpu ? Qwen2GpuModel.OpenDevice(options.Device!) : null;
        foreach (bool full in new[] { false, true })
        {
            string mode = full ? "full" : "chunked";
            using var embedder = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = options.Threads, FullAttention = full, Device = device });
            if (waveform.Length > WhisperLogMel.PaddedSamples)
            {
                // Longer than one 30 s piece: only the concatenated embeddings are defined.
                outputs.Add($"audio_embeds_{mode}", embedder.Embed(new AudioClip(waveform, AudioClip.WhisperSampleRate), int.MaxValue).Rows);
                foreach (var name in new[] { "mel", $"encoder_hidden_{mode}", $"audio_proj_{mode}" })
                    outputs.Skip(name, "the waveform spans several 30 s pieces");
                continue;
            }
            var piece = embedder.EncodePiece(waveform);
            outputs.Add($"encoder_hidden_{mode}", piece.Hidden);
            outputs.Add($"audio_proj_{mode}", piece.Projected);
            outputs.Add($"audio_embeds_{mode}", piece.Pooled);
            outputs.Add($"attention_mask_{mode}", AudioAttentionMask.Dense(piece.EncoderFrames, embedder.ChunkFrames));
            if (!full)
            {
                outputs.Add("mel", piece.Mel);
                outputs.Add("mel_num_frames", new[] { piece.MelFrames });
                outputs.Add("num_audio_tokens", new[] { piece.Tokens });
            }
        }
    }
}
