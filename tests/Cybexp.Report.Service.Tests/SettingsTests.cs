using Cybexp.Report.Cli.Configuration;
using Cybexp.Report.Service.Notification;

namespace Cybexp.Report.Service.Tests;

/// <summary>The shared settings loader: appsettings.json, then CYBEXP_* variables, then flags.</summary>
public sealed class SettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CybexpSettings Load(string? json, Dictionary<string, string> env, Dictionary<string, string?>? flags = null)
    {
        if (json is not null)
        {
            File.WriteAllText(Path.Combine(_dir, CybexpSettings.FileName), json);
        }

        return CybexpSettings.Load(CybexpSettings.BuildConfiguration(flags, _dir, env));
    }

    [Fact]
    public void Defaults_WhenNothingIsConfigured()
    {
        var s = Load(null, []);
        Assert.Equal("sqlite:" + Path.Combine("cybexp-data", "cybexp.db"), s.Store);
        Assert.Null(s.Key);
        Assert.Equal(TimeSpan.FromSeconds(30), s.Worker.Lease);
        Assert.Equal(TimeSpan.FromSeconds(6), s.Worker.RenewEvery);
        Assert.Equal(4 * Environment.ProcessorCount, s.Worker.Parallelism);
        Assert.Equal(3, s.Worker.MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Worker.PollInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), s.Worker.ShutdownDeadline);
        Assert.Equal(4, s.Worker.ThreatRankGraphs);
        Assert.Equal($"{Environment.MachineName}/{Environment.ProcessId}", s.Worker.WorkerId);
        Assert.Equal("localhost", s.Notifier.ApiHost);
        Assert.Equal(NotifierOptions.LoopbackOnly, s.Notifier.AllowedHosts);
    }

    [Fact]
    public void EnvironmentOverridesTheFile_AndFlagsOverrideBoth()
    {
        const string json = """
            {"Store": "sqlite:from-file.db", "Key": "file.pem", "ApiHost": "file-host",
             "Worker": {"Parallelism": 3, "Lease": 12, "MaxAttempts": 7, "Poll": 0.5},
             "Notify": {"Allow": ["a.example", "10.0.0.1"]}}
            """;
        var env = new Dictionary<string, string>
        {
            ["CYBEXP_STORE"] = "sqlite:from-env.db",
            ["CYBEXP_WORKER__PARALLELISM"] = "5",
            ["CYBEXP_WORKER__MAX_ATTEMPTS"] = "4",
            ["CYBEXP_WORKER__THREAT_RANK_GRAPHS"] = "2",
            ["CYBEXP_API_HOST"] = "env-host",
            ["UNRELATED"] = "x",
        };
        var s = Load(json, env);
        Assert.Equal("sqlite:from-env.db", s.Store);
        Assert.Equal("file.pem", s.Key);
        Assert.Equal(5, s.Worker.Parallelism);
        Assert.Equal(4, s.Worker.MaxAttempts);
        Assert.Equal(2, s.Worker.ThreatRankGraphs);
        Assert.Equal(TimeSpan.FromSeconds(12), s.Worker.Lease);
        Assert.Equal(TimeSpan.FromSeconds(0.5), s.Worker.PollInterval);
        Assert.Equal("env-host", s.Notifier.ApiHost);
        Assert.Equal(["a.example", "10.0.0.1"], s.Notifier.AllowedHosts);

        var flagged = Load(json, env, new() { ["Store"] = "sqlite:from-flag.db", ["Worker:Parallelism"] = "9", ["Notify:Allow"] = "b.example,c.example", ["Worker:Now"] = "1625097600", ["Worker:ThreatRankGraphs"] = "0" });
        Assert.Equal("sqlite:from-flag.db", flagged.Store);
        Assert.Equal(9, flagged.Worker.Parallelism);
        Assert.Equal(["b.example", "c.example"], flagged.Notifier.AllowedHosts);
        Assert.Equal(1_625_097_600, flagged.Worker.FixedNow);
        Assert.Equal(0, flagged.Worker.ThreatRankGraphs);
    }

    [Fact]
    public void EnvironmentList_IsCommaSeparated()
    {
        var s = Load(null, new() { ["CYBEXP_NOTIFY__ALLOW"] = " h1 , h2,," });
        Assert.Equal(["h1", "h2"], s.Notifier.AllowedHosts);
    }

    [Theory]
    [InlineData("CYBEXP_WORKER__PARALLELISM", "many", "Worker:Parallelism must be a whole number, got 'many'")]
    [InlineData("CYBEXP_WORKER__PARALLELISM", "0", "parallelism must be from 1")]
    [InlineData("CYBEXP_WORKER__LEASE", "-1", "Worker:Lease must be a number of seconds")]
    [InlineData("CYBEXP_WORKER__MAX_ATTEMPTS", "0", "maximum number of attempts must be at least 1")]
    [InlineData("CYBEXP_WORKER__NOW", "soon", "Worker:Now must be a number")]
    public void BadValues_AreRefused_NamingTheKey(string variable, string value, string message)
    {
        var e = Assert.Throws<SettingsException>(() => Load(null, new() { [variable] = value }));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BrokenSettingsFile_IsRefused_NamingTheFile()
    {
        var e = Assert.Throws<SettingsException>(() => Load("{\"Store\": ", []));
        Assert.Contains(CybexpSettings.FileName, e.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
    }
}
