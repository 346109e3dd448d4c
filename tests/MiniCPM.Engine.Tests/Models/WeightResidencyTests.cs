using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Models;

public class WeightResidencyTests
{
    [Fact]
    public void WeightsReadIntoMemoryGiveTheSameLogitsAsMappedWeights()
    {
        float[] Logits(FileResidency residency)
        {
            using var model = Qwen2Model.Load(TestData.GoldenCase("llm"), new Qwen2Options { Threads = 2, KvCacheTokens = 64, WeightResidency = residency });
            var request = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 5, 17, 901, 3, 44 }, AllLogits = true };
            model.Forward([request]);
            return request.Logits!;
        }
        Assert.Equal(Logits(FileResidency.Mapped), Logits(FileResidency.InMemory));
    }
}
