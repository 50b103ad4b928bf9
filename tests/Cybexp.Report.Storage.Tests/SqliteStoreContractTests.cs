using Cybexp.Report.Core.Storage;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>The store contract against a real SQLite file per test.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-").FullName;

    protected override async Task<ICybexpStore> NewStoreAsync() =>
        await SqliteStore.OpenAsync(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"), Time, Ct);

    protected override async Task<(ICybexpStore First, ICybexpStore Second)> NewStoreTwiceAsync()
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db");
        return (await SqliteStore.OpenAsync(path, Time, Ct), await SqliteStore.OpenAsync(path, Time, Ct));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on some platform is left to the OS temp cleaner.
        }
    }
}
