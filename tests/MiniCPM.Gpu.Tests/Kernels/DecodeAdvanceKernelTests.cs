using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>The advance of a one-row decode layout against the host's layout arithmetic (Qwen2GpuModel.Forward:
/// slot = table[position / block] · block + position % block), step by step.</summary>
[Collection(Simulator.Name)]
public sealed class DecodeAdvanceKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Fact]
    public void RecordsTheChosenIdAndMovesPositionAndSlotOn()
    {
        const int block = 4, embeddingRows = 320;
        int[] tables = [9, 3, 7, 2]; // another sequence's table first: this row's starts at 1
        using var ids = _device.Allocate<int>(1);
        using var positions = _device.Upload<int>([5]);
        using var slots = _device.Upload<int>([3 * block + 1]);
        using var starts = _device.Upload<int>([1]);
        using var table = _device.Upload<int>(tables);
        using var record = _device.Upload<int>([0, 9, -7, -7, -7, -7]); // slots reserved below position 9
        var args = new DecodeAdvanceArgs
        {
            Ids = ids.View, Positions = positions.View, Slots = slots.View, TableStarts = starts.View, Tables = table.View,
            Record = record.View, BlockSize = block, EmbeddingRows = embeddingRows,
        };

        // (chosen id, the next input, the next position's slot): an id, "nothing to choose", an id past the table,
        // and a step onto position 9, which has no reserved slot (the slot stays).
        (int Chosen, int Next, int Slot)[] steps = [(17, 17, 7 * block + 2), (-1, 0, 7 * block + 3), (500, 0, 2 * block), (4, 4, 2 * block)];
        for (int step = 0; step < steps.Length; step++)
        {
            ((ArrayView<int>)ids.View).CopyFromCPU([steps[step].Chosen]);
            _device.Kernels.DecodeAdvance(args);
            Assert.Equal([steps[step].Next], Read(ids.View, 1));
            Assert.Equal([6 + step], Read(positions.View, 1));
            Assert.Equal([steps[step].Slot], Read(slots.View, 1));
        }
        Assert.Equal([4, 9, 17, -1, 500, 4], Read(record.View, 6));
    }

    private static int[] Read(ArrayView<int> view, int count)
    {
        var values = new int[count];
        view.SubView(0, count).CopyToCPU(values);
        return values;
    }
}
