using Cybexp.Report.Cli;

namespace Cybexp.Report.Service.Tests;

/// <summary>The <c>worker</c> command refuses unusable settings with a clear message instead of starting.</summary>
public sealed class WorkerCommandTests
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await CliApp.RunAsync(args, stdout, stderr, new StringReader(string.Empty));
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Help_ShowsAnExample_AndTheConfigurationScheme()
    {
        var (exit, output, _) = await RunAsync("worker", "--help");
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("cybexp-report worker --store postgres:", output, StringComparison.Ordinal);
        Assert.Contains("CYBEXP_WORKER__PARALLELISM", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--parallelism", "0", "parallelism must be from 1")]
    [InlineData("--lease", "0", "Worker:Lease must be a number of seconds")]
    [InlineData("--key", "no-such-key.pem", "cannot read the private key file no-such-key.pem")]
    [InlineData("--store", "mongodb://localhost", "unknown store 'mongodb://localhost'")]
    public async Task UnusableSettings_AreRefused_WithExit2(string flag, string value, string message)
    {
        var dir = Directory.CreateTempSubdirectory("cybexp-worker-cmd-").FullName;
        try
        {
            // Every other flag is valid, and the store is a throw-away file (used only by the store case's neighbours).
            string[] args = flag == "--store"
                ? ["worker", flag, value]
                : ["worker", "--store", "sqlite:" + Path.Combine(dir, "w.db"), flag, value];
            var (exit, _, err) = await RunAsync(args);
            Assert.Equal(ExitCodes.Invalid, exit);
            Assert.Contains(message, err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
