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

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();
}
