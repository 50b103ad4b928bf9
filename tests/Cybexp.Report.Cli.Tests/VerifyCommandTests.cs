using System.Text.Json;

namespace Cybexp.Report.Cli.Tests;

public sealed class VerifyCommandTests : IDisposable
{
    private const string Attribute =
        """{"itype": "attribute", "data": "1.1.1.1", "sub_type": "ipv4", "_hash": "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6"}""";

    private const string Filename =
        """{"itype": "attribute", "data": "virus.exe", "sub_type": "filename", "_hash": "38d079afbbdf92021aecf8061ac9230d1eeb6a51877b6517366825e22b50d3a6"}""";

    private const string EventHash = "49a65e406b671718fe745562cce8320bd0fe3e84b95525fac1389ea13979c7de";

    private const string Event =
        """{"itype": "event", "orgid": "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135", "timestamp": 1600000000.5, "category": "unknown", "data": {"filename": ["virus.exe"], "ipv4": ["1.1.1.1"]}, "_cref": ["38d079afbbdf92021aecf8061ac9230d1eeb6a51877b6517366825e22b50d3a6", "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6"], "_ref": ["38d079afbbdf92021aecf8061ac9230d1eeb6a51877b6517366825e22b50d3a6", "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6"], "_ben_ref": [], "_mal_ref": [], "sub_type": "file_download", "_hash": "49a65e406b671718fe745562cce8320bd0fe3e84b95525fac1389ea13979c7de"}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int Code, string Out, string Err)> Run(string stdin, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, new StringReader(stdin));
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task ValidFile_ExitsZero_AndPrintsTheSummary()
    {
        var path = WriteFile("ok.ndjson", $"{Attribute}\n{Filename}\n\n{Event}\n");

        var (code, stdout, stderr) = await Run("", "verify", path);

        Assert.Equal(0, code);
        Assert.Equal(["checked 3 documents: 3 valid, 0 invalid"], Lines(stdout));
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task PrettyArrayAndMongoExport_AreRead()
    {
        var mongo = Event.Replace("\"timestamp\": 1600000000.5", "\"timestamp\": {\"$numberDouble\": \"1600000000.5\"}", StringComparison.Ordinal)
            .Replace("{\"itype\"", "{\"_id\": {\"$oid\": \"5f1b2c3d4e5f6a7b8c9d0e1f\"}, \"itype\"", StringComparison.Ordinal);
        var array = WriteFile("array.json", $"[\n  {Attribute},\n  {Filename}\n]\n");
        var export = WriteFile("export.json", mongo + "\n");

        var (code, stdout, _) = await Run("", "verify", array, export);

        Assert.Equal(0, code);
        Assert.Equal(["checked 3 documents: 3 valid, 0 invalid"], Lines(stdout));
    }

    [Fact]
    public async Task CorruptedDocument_ExitsThree_NamingFileLineHashAndReason()
    {
        var changed = Event.Replace("virus.exe", "virus.com", StringComparison.Ordinal);
        var path = WriteFile("bad.ndjson", $"{Attribute}\n{changed}\n{Filename}\n");

        var (code, stdout, stderr) = await Run("", "verify", path);

        Assert.Equal(3, code);
        var lines = Lines(stdout);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{path}:2: {EventHash}: '_hash' does not match the content: recomputed ", lines[0], StringComparison.Ordinal);
        Assert.Equal("checked 3 documents: 2 valid, 1 invalid", lines[1]);
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task EveryProblemOfADocument_GetsItsOwnLine()
    {
        var both = Event.Replace("\"_mal_ref\": []", "\"_mal_ref\": [\"0000000000000000000000000000000000000000000000000000000000000000\"]", StringComparison.Ordinal)
            .Replace("\"unknown\"", "\"bad\"", StringComparison.Ordinal);
        var path = WriteFile("two.ndjson", both + "\n");

        var (code, stdout, _) = await Run("", "verify", path);

        Assert.Equal(3, code);
        Assert.Equal(
            [
                $"{path}:1: {EventHash}: event 'category' must be benign, malicious or unknown; got \"bad\"",
                $"{path}:1: {EventHash}: '_mal_ref' holds 0000000000000000000000000000000000000000000000000000000000000000, which is not in '_ref'",
                "checked 1 documents: 0 valid, 1 invalid",
            ],
            Lines(stdout));
    }

    [Fact]
    public async Task MalformedLine_CountsAsAnInvalidDocument_AndReadingGoesOn()
    {
        var path = WriteFile("broken.ndjson", $"{Attribute}\n{{\"itype\": \"attribute\" \"data\": 1}}\n{Filename}\n{{\"a\": 1, \"a\": 2}}\n");

        var (code, stdout, stderr) = await Run("", "verify", path);

        Assert.Equal(3, code);
        Assert.Equal(
            [
                $"{path}:2: -: invalid JSON at column 23: expected ',' or '}}' in an object",
                $"{path}:4: -: invalid JSON at column 10: duplicate key \"a\"",
                "checked 4 documents: 2 valid, 2 invalid",
            ],
            Lines(stdout));
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task TruncatedLastLine_CountsAsAnInvalidDocument()
    {
        var path = WriteFile("cut.ndjson", $"{Attribute}\n{Event[..100]}");

        var (code, stdout, _) = await Run("", "verify", path);

        Assert.Equal(3, code);
        Assert.Contains($"{path}:2: -: the document is truncated (the input ends before it is closed)", Lines(stdout));
    }

    [Fact]
    public async Task MissingFile_ExitsOne_NamingTheFile()
    {
        var ok = WriteFile("ok.ndjson", Attribute);
        var missing = Path.Combine(_dir, "nope.json");

        var (code, stdout, stderr) = await Run("", "verify", missing, ok);

        Assert.Equal(1, code);
        Assert.Equal([$"{missing}: cannot open: no such file"], Lines(stderr));
        Assert.Equal(["checked 1 documents: 1 valid, 0 invalid"], Lines(stdout));
    }

    [Fact]
    public async Task BrokenArray_ExitsOne_NamingFileAndLine_EvenWithInvalidDocuments()
    {
        var wrongHash = Attribute.Replace("4469", "5469", StringComparison.Ordinal);
        var path = WriteFile("array.json", $"[\n{wrongHash},\n{{\"b\": [1}},\n{Filename}\n]\n");

        var (code, stdout, stderr) = await Run("", "verify", path);

        Assert.Equal(1, code);
        var error = Assert.Single(Lines(stderr));
        Assert.StartsWith($"{path}:3: invalid JSON at column 9: expected ',' or ']' in an array", error, StringComparison.Ordinal);
        Assert.Equal("checked 1 documents: 0 valid, 1 invalid", Lines(stdout)[^1]);
    }

    [Fact]
    public async Task InvalidUtf8_ExitsOne()
    {
        var path = Path.Combine(_dir, "latin1.json");
        File.WriteAllBytes(path, [.. System.Text.Encoding.UTF8.GetBytes("{\"a\": \""), 0xE9, .. "\"}\n"u8]);

        var (code, _, stderr) = await Run("", "verify", path);

        Assert.Equal(1, code);
        Assert.Contains("not valid UTF-8", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_PrintsOneObjectWithTheDocumentedShape()
    {
        var changed = Attribute.Replace("1.1.1.1", "1.1.1.2", StringComparison.Ordinal);
        var path = WriteFile("mixed.ndjson", $"{Attribute}\n{changed}\nnot json\n");

        var (code, stdout, _) = await Run("", "verify", "--json", path);

        Assert.Equal(3, code);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(["checked", "valid", "invalid", "problems"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(3, root.GetProperty("checked").GetInt32());
        Assert.Equal(1, root.GetProperty("valid").GetInt32());
        Assert.Equal(2, root.GetProperty("invalid").GetInt32());
        var problems = root.GetProperty("problems").EnumerateArray().ToList();
        Assert.Equal(2, problems.Count);
        Assert.Equal(["line", "_hash", "reason", "file"], problems[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(2, problems[0].GetProperty("line").GetInt64());
        Assert.Equal("4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6", problems[0].GetProperty("_hash").GetString());
        Assert.StartsWith("'_hash' does not match the content: recomputed ", problems[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(path, problems[0].GetProperty("file").GetString());
        Assert.Equal(3, problems[1].GetProperty("line").GetInt64());
        Assert.Equal(JsonValueKind.Null, problems[1].GetProperty("_hash").ValueKind);
        Assert.Equal("invalid JSON at column 1: unexpected character 'n'", problems[1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Json_AllValid_HasNoProblems()
    {
        var (code, stdout, _) = await Run(Attribute, "verify", "--json", "-");

        Assert.Equal(0, code);
        Assert.Equal("""{"checked":1,"valid":1,"invalid":0,"problems":[]}""", stdout.Trim());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stdin_IsReadForDashOrNoFile(bool dash)
    {
        var stdin = $"{Attribute}\n{Attribute.Replace("ipv4", "ipv6", StringComparison.Ordinal)}\n";
        string[] args = dash ? ["verify", "-"] : ["verify"];

        var (code, stdout, _) = await Run(stdin, args);

        Assert.Equal(3, code);
        var lines = Lines(stdout);
        Assert.StartsWith("-:2: 4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6: '_hash' does not match", lines[0], StringComparison.Ordinal);
        Assert.Equal("checked 2 documents: 1 valid, 1 invalid", lines[1]);
    }

    [Fact]
    public async Task Help_StatesTheExitCodeRule()
    {
        var (code, stdout, _) = await Run("", "verify", "--help");

        Assert.Equal(0, code);
        Assert.Contains("0 every document is valid; 3 some document is invalid; 1 some input could not be read", stdout, StringComparison.Ordinal);
    }
}
