using Cybexp.Report.Core.Reports.ThreatRank;

namespace Cybexp.Report.Core.Tests.ThreatRank;

public sealed class ThreatRankExampleTests
{
    private const double Now = RandomScenario.Now;
    private static readonly string A = Hex('a');
    private static readonly string B = Hex('b');
    private static readonly string C = Hex('c');

    /// <summary>The worked example of spec/threatrank.md: e1 (malicious) — a — e2, plus b and c.</summary>
    internal static ThreatRankGraph WorkedExample(out string e1, out string e2)
    {
        e1 = Hex('1');
        e2 = Hex('2');
        return new ThreatRankGraphBuilder()
            .AddEvent(e1, Now, true, [A, B])
            .AddEvent(e2, Now, false, [A, C])
            .Build();
    }

    [Fact]
    public void Score_OfTheWorkedExample_IsMinusOneEighth()
    {
        var graph = WorkedExample(out _, out var e2);
        var result = new ThreatRankCalculator(graph, Now).Score(e2);
        Assert.True(result.IsSuccess);
        Assert.Equal(-0.125, result.Score, 15);
    }

    [Fact]
    public void Score_FindsTheEvent_WhateverTheCaseOfTheHash()
    {
        var graph = WorkedExample(out _, out var e2);
        var e2Upper = "ABCDEF" + e2[6..];
        graph = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now, true, [A, B])
            .AddEvent(e2Upper, Now, false, [A.ToUpperInvariant(), C])
            .Build();
        var calculator = new ThreatRankCalculator(graph, Now);
        Assert.Equal(-0.125, calculator.Score(e2Upper.ToLowerInvariant()).Score, 15);
        Assert.Equal(-0.125, calculator.Score(e2Upper).Score, 15);
        Assert.True(graph.TryFindEvent(e2Upper, out var index));
        Assert.Equal(e2Upper.ToLowerInvariant(), graph.EventHash(index));
    }

    [Fact]
    public void Score_OfAMaliciousEvent_IsMinusOne()
    {
        var graph = WorkedExample(out var e1, out _);
        Assert.Equal(-1.0, new ThreatRankCalculator(graph, Now).Score(e1).Score);
    }

    [Theory]
    [InlineData("attribute")]
    [InlineData("unknown")]
    [InlineData("malformed")]
    public void Score_OfSomethingThatIsNotAVisibleEvent_FailsWithEventNotFound(string what)
    {
        var graph = WorkedExample(out _, out _);
        var hash = what switch
        {
            "attribute" => A,
            "unknown" => Hex('9'),
            _ => "not a hash",
        };
        var result = new ThreatRankCalculator(graph, Now).Score(hash);
        Assert.False(result.IsSuccess);
        Assert.Equal("event not found", result.FailureReason);
    }

    [Fact]
    public void Score_IsZero_WhenNoPathFitsTheHopLimit()
    {
        // e1 (malicious) — a — x — b — e2: four edges.
        var x = Hex('3');
        var e2 = Hex('2');
        var graph = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now, true, [A])
            .AddEvent(x, Now, false, [A, B])
            .AddEvent(e2, Now, false, [B])
            .Build();
        var calculator = new ThreatRankCalculator(graph, Now);
        Assert.Equal(0.0, calculator.Score(e2, maxHops: 1).Score);
        Assert.Equal(-1.0 * (1.0 / 2) * (1.0 / 2) * (1.0 / 2) * 1.0, calculator.Score(e2, maxHops: 2).Score, 15);
    }

    [Fact]
    public void Score_DecaysWithTheAgeOfEveryEventOnThePath()
    {
        // e1 is 10.5 days old (d = 10), e2 is a day in the future (d = 0).
        var e2 = Hex('2');
        var graph = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now - (10.5 * 86400), true, [A, B])
            .AddEvent(e2, Now + 86400, false, [A, C])
            .Build();
        var result = new ThreatRankCalculator(graph, Now, decay: 0.9).Score(e2);
        Assert.Equal(-(Math.Pow(0.9, 10) / 2) * (1.0 / 2) * (1.0 / 2), result.Score, 15);
    }

    [Fact]
    public void Builder_CountsAnAttributeOncePerEvent()
    {
        var graph = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now, true, [A, B, A])
            .AddEvent(Hex('2'), Now, false, [A, C, A.ToUpperInvariant()])
            .Build();
        Assert.Equal(2, graph.EventDegree(0));
        Assert.Equal(3, graph.AttributeCount);
        Assert.Equal(-0.125, new ThreatRankCalculator(graph, Now).Score(Hex('2')).Score, 15);
    }

    [Fact]
    public void Builder_RejectsTheSameEventTwice()
    {
        var builder = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now, true, [A])
            .AddEvent(Hex('1').ToUpperInvariant(), Now, false, [B]);
        var error = Assert.Throws<InvalidOperationException>(builder.Build);
        Assert.Contains(Hex('1'), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Builder_RejectsMalformedInput()
    {
        var builder = new ThreatRankGraphBuilder();
        Assert.Throws<ArgumentException>(() => builder.AddEvent("xyz", Now, false, [A]));
        Assert.Throws<ArgumentException>(() => builder.AddEvent(Hex('1'), Now, false, ["12"]));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddEvent(Hex('1'), double.NaN, false, [A]));
        Assert.Equal(0, builder.EventCount);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.000009)]
    [InlineData(1.000001)]
    [InlineData(double.NaN)]
    public void Calculator_RejectsADecayOutsideTheAcceptedRange(double decay)
    {
        var graph = WorkedExample(out _, out _);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ThreatRankCalculator(graph, Now, decay));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Score_RejectsAHopLimitOutsideOneToThree(int maxHops)
    {
        var graph = WorkedExample(out _, out var e2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ThreatRankCalculator(graph, Now).Score(e2, maxHops));
    }

    [Fact]
    public void RankAll_RejectsMoreThanOneThousand()
    {
        var graph = WorkedExample(out _, out _);
        var calculator = new ThreatRankCalculator(graph, Now);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => calculator.RankAll([0, 1], 3, 1001));
        Assert.Contains("top must be between 1 and 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RankAll_OverATimeRange_IncludesBothEndsAndSkipsMaliciousAndUnreachedEvents()
    {
        // e1 malicious; e2, e3 reached through a; e4 reached by nothing; e3 outside the range.
        var e2 = Hex('2');
        var e3 = Hex('3');
        var graph = new ThreatRankGraphBuilder()
            .AddEvent(Hex('1'), Now - 100, true, [A])
            .AddEvent(e2, Now - 100, false, [A])
            .AddEvent(e3, Now - 101, false, [A, B])
            .AddEvent(Hex('4'), Now, false, [C])
            .Build();
        var calculator = new ThreatRankCalculator(graph, Now);
        var ranked = calculator.RankAll(Now - 100, Now);
        var expected = calculator.Score(e2).Score;
        Assert.Equal([new RankedEvent(e2, expected)], ranked);

        var all = calculator.RankAll(Now - 101, Now);
        Assert.Equal([e2, e3], all.Select(r => r.Hash));
        Assert.True(all[0].Score < all[1].Score);
    }

    [Fact]
    public void RankAll_BreaksTiesByHash()
    {
        var builder = new ThreatRankGraphBuilder().AddEvent(Hex('1'), Now, true, [A]);
        foreach (var c in "fedcb")
        {
            builder.AddEvent(Hex(c), Now, false, [A]);
        }

        var ranked = new ThreatRankCalculator(builder.Build(), Now).RankAll(Now, Now, top: 3);
        Assert.Equal([Hex('b'), Hex('c'), Hex('d')], ranked.Select(r => r.Hash));
        Assert.All(ranked, r => Assert.Equal(ranked[0].Score, r.Score));
    }

    private static string Hex(char c) => new(c, 64);
}
