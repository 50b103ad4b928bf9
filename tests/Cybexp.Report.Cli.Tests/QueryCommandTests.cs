using System.Text.Json;
using Cybexp.Report.Cli;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Cli.Tests;

public sealed class QueryCommandTests : IDisposable
{
    private const string Carol = "3f9f485f834dff148588d432d04d15ba717a314911520d91cb8b4420da2348b7";
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-query-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left to the OS temp cleaner
        }
    }

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await CliApp.RunAsync(args, o, e, new StringReader(string.Empty));
        return (code, o.ToString(), e.ToString());
    }

    private async Task<string> StoreWithD1Async()
    {
        var path = Path.Combine(_dir, "d1.db");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "vectors", "reports.json")));
        var ds = json.RootElement.GetProperty("datasets").EnumerateArray().First(d => d.GetProperty("name").GetString() == "D1_tiny");
        var docs = ds.GetProperty("identity_docs").EnumerateArray().Concat(ds.GetProperty("tahoe_docs").EnumerateArray())
            .Select(d => ArchiveDocument.TryCreate(PythonJson.Parse(d.GetRawText()).AsDict, out var doc, out var err) ? doc! : throw new InvalidDataException(err))
            .ToList();
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, CancellationToken.None);
        await store.Archive.WriteAsync(docs, CancellationToken.None);
        return "sqlite:" + path;
    }

    [Fact]
    public async Task Explain_PrintsTheNormalisedQuery_AndItsRange()
    {
        var (code, output, _) = await Run("query", "--type", "related", "--data", """{"sub_type":"ip","data":"1.1.1.1","last":"2 d"}""", "--explain", "--now", "1700000000");
        Assert.Equal(0, code);
        var doc = PythonJson.Parse(output.Trim()).AsDict;
        Assert.Equal(TahoeValue.Int(1699827200), doc["start"]);
        Assert.Equal(TahoeValue.Int(1700000000), doc["end"]);
        Assert.Equal(TahoeValue.String("ipv4"), doc["qdata"]!.AsDict["sub_type"]);
        Assert.Equal(TahoeValue.Int(1), doc["qdata"]!.AsDict["level"]);
    }

    [Fact]
    public async Task Explain_OfAnInvalidQuery_ExitsTwo_NamingTheField()
    {
        var (code, _, err) = await Run("query", "--type", "related", "--data", """{"sub_type":"ipv4","data":"x","level":5}""", "--explain");
        Assert.Equal(2, code);
        Assert.Contains("'level' must be an integer from 1 to 3, got 5", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_PrintsTheReportDocument_AndExitsZero()
    {
        var store = await StoreWithD1Async();
        var (code, output, err) = await Run("query", "--store", store, "--user", Carol, "--type", "count", "--data", """{"sub_type":"ipv4","data":"198.51.100.7"}""", "--now", "1625097600", "--json");
        Assert.True(code == 0, err);
        var report = PythonJson.Parse(output.Trim()).AsDict;
        Assert.Equal(TahoeValue.Int(3), report["data"]);
        Assert.Equal(TahoeValue.String("ready"), report["status"]);
        Assert.Equal(TahoeValue.String("report"), report["itype"]);
        Assert.Equal(TahoeValue.Float(1625097600.0), report["timestamp"]);
        Assert.Equal(InstanceHash.Of("reportcount3").Value, report["_hash"]!.AsString);
    }

    [Fact]
    public async Task Run_ByEmail_PrintsATable_WhenNotJson()
    {
        var store = await StoreWithD1Async();
        var (code, output, err) = await Run("query", "--store", store, "--user", "carol@both.example", "--type", "related", "--data", """{"sub_type":"ipv4","data":"198.51.100.7"}""");
        Assert.True(code == 0, err);
        Assert.Contains("ready", output, StringComparison.Ordinal);
        Assert.Contains("198.51.100.7", output, StringComparison.Ordinal);
        Assert.Contains("evil.example", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ForAnUnknownUser_IsAFailedReport_ExitTwo()
    {
        var store = await StoreWithD1Async();
        var (code, output, _) = await Run("query", "--store", store, "--user", "nobody@example.org", "--type", "count", "--data", """{"sub_type":"ipv4","data":"198.51.100.7"}""", "--json");
        Assert.Equal(2, code);
        var report = PythonJson.Parse(output.Trim()).AsDict;
        Assert.Equal(TahoeValue.String("failed"), report["status"]);
        Assert.Contains("unknown user", report["data"]!.AsString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_DecryptsAnEncryptedDataFile_WithTheKey()
    {
        var store = await StoreWithD1Async();
        using var crypto = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "vectors", "crypto.json")));
        var priv = Path.Combine(_dir, "priv.pem");
        await File.WriteAllTextAsync(priv, crypto.RootElement.GetProperty("private_key_pem").GetString());
        using var enc = QueryEncryptor.FromPem(crypto.RootElement.GetProperty("public_key_pem").GetString()!).Value;
        var blob = enc.Encrypt(Canonical.Of(PythonJson.Parse("""{"sub_type":"ipv4","data":"198.51.100.7"}""")));
        var file = Path.Combine(_dir, "q.b64");
        await File.WriteAllTextAsync(file, Convert.ToBase64String(blob));
        var (code, output, err) = await Run("query", "--store", store, "--user", Carol, "--type", "count", "--data-file", file, "--key", priv, "--now", "1625097600", "--json");
        Assert.True(code == 0, err + output);
        Assert.Equal(TahoeValue.Int(3), PythonJson.Parse(output.Trim()).AsDict["data"]);
        var wrong = RsaKeyPair.Generate();
        await File.WriteAllTextAsync(priv, wrong.PrivateKeyPem);
        var (code2, output2, _) = await Run("query", "--store", store, "--user", Carol, "--type", "count", "--data-file", file, "--key", priv, "--json");
        Assert.Equal(2, code2);
        Assert.Contains("key unwrap", PythonJson.Parse(output2.Trim()).AsDict["data"]!.AsString, StringComparison.Ordinal);
    }
}
