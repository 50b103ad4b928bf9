using Cybexp.Report.Core.Storage;

namespace Cybexp.Report.Storage.Tests;

/// <summary>The store contract against a real PostgreSQL server, each store in a schema of its own.</summary>
public sealed class PostgresStoreContractTests : StoreContractTests, IAsyncLifetime
{
    private readonly PostgresSchemas _schemas = new();

    protected override async Task<ICybexpStore> NewStoreAsync() => await _schemas.OpenAsync(Time, Ct);

    protected override async Task<(ICybexpStore First, ICybexpStore Second)> NewStoreTwiceAsync()
    {
        var schema = _schemas.NewName();
        return (await _schemas.OpenAsync(Time, Ct, schema), await _schemas.OpenAsync(Time, Ct, schema));
    }

    /// <summary>
    /// A claim looks for expired leases at most once a second per store instance (the sweep walks an index full of
    /// finished rows under load): an expired lease is taken again by the first claim a second after the last sweep,
    /// and a second store on the same database (another worker process) sweeps on its own.
    /// </summary>
    [Fact]
    public async Task Claim_LooksForExpiredLeases_AtMostOncePerSecondPerStore()
    {
        var (first, second) = await NewStoreTwiceAsync();
        await using var a = first;
        await using var b = second;
        var lease = TimeSpan.FromMilliseconds(100);
        await a.Queries.EnqueueAsync(Count("a"), Ct);
        var stale = await a.Queries.ClaimManyAsync("w1", lease, 5, Ct);
        Assert.Single(stale);

        Time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Empty(await a.Queries.ClaimManyAsync("w2", lease, 5, Ct));

        // The other store has not swept yet: it takes the expired lease at once.
        var other = await b.Queries.ClaimManyAsync("w3", lease, 5, Ct);
        Assert.Equal(stale[0].QueryId, Assert.Single(other).QueryId);

        Time.Advance(TimeSpan.FromMilliseconds(600));
        var again = await a.Queries.ClaimManyAsync("w2", lease, 5, Ct);
        Assert.Equal(stale[0].QueryId, Assert.Single(again).QueryId);
        Assert.Equal(3, again[0].Attempt);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();
}
