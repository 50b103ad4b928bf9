using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Generation;

/// <summary>
/// Settings of a generated archive. Everything that shapes the output is here: the same options give the same
/// documents, byte for byte.
/// </summary>
/// <param name="Events">Number of events.</param>
/// <param name="Seed">Seed of the pseudo-random source.</param>
/// <param name="Orgs">Number of organisations (<c>org1</c> …).</param>
/// <param name="Users">Number of users (<c>analyst1@org1.example</c> …); at least <paramref name="Orgs"/>.</param>
/// <param name="SessionsShare">Share of events (0–1) that belong to a session.</param>
/// <param name="MaliciousShare">Share of events (0–1) whose category is malicious.</param>
/// <param name="Days">Time span of the event timestamps, in days.</param>
/// <param name="Start">Epoch seconds of the first possible timestamp.</param>
public sealed record GeneratorOptions(
    int Events,
    int Seed,
    int Orgs = 2,
    int Users = 4,
    double SessionsShare = 0.1,
    double MaliciousShare = 0.05,
    int Days = 365,
    long Start = ArchiveGenerator.DefaultStart)
{
    /// <summary>Distinct values per attribute family (ipv4, domain, url, file, e-mail, hostname, subject); bounds memory.</summary>
    public int PoolSize { get; init; } = ArchiveGenerator.DefaultPoolSize;

    /// <summary>The first problem with these options, or null when they are usable.</summary>
    public string? Problem() =>
        Events < 0 ? "--events must be 0 or more"
        : Orgs < 1 ? "--orgs must be at least 1"
        : Users < Orgs ? "--users must be at least --orgs (every org needs an admin)"
        : SessionsShare is < 0 or > 1 || double.IsNaN(SessionsShare) ? "--sessions-share must be between 0 and 1"
        : MaliciousShare is < 0 or > 1 || double.IsNaN(MaliciousShare) ? "--malicious-share must be between 0 and 1"
        : Days < 1 ? "--days must be at least 1"
        : Start < 0 ? "--start must be 0 or more"
        : PoolSize is < 16 or > ArchiveGenerator.MaxPoolSize ? $"the pool size must be between 16 and {ArchiveGenerator.MaxPoolSize}"
        : null;
}

/// <summary>One generated attribute value and the number of events that reference it.</summary>
public sealed record GeneratedValue(string SubType, string Value, InstanceHash Hash, long Events);

/// <summary>What a generator run produced; <see cref="TopValues"/> lists the hub values a demo can query.</summary>
public sealed record GeneratorSummary(
    long Documents,
    long Events,
    long Sessions,
    long Attributes,
    long Objects,
    int Users,
    int Orgs,
    long MaliciousEvents,
    ImmutableArray<GeneratedValue> TopValues);

/// <summary>
/// Generates a realistic TAHOE archive from a seed, streaming: identity documents first (users, then orgs with their
/// members), then for every event the attributes and objects it uses for the first time, the event, and every
/// session once its last event is out. Attribute values are drawn with Zipf-like weights from bounded pools, so a few
/// hub values (<see cref="HubIp"/>, <see cref="HubDomain"/>) occur in many events while most values are rare; memory is
/// bounded by the pools, not by the number of events. No wall clock is read.
/// </summary>
public sealed class ArchiveGenerator
{
    /// <summary>The default first timestamp: 2021-01-01T00:00:00Z.</summary>
    public const long DefaultStart = 1_609_459_200;

    /// <summary>Default distinct values per attribute family.</summary>
    public const int DefaultPoolSize = 25_000;

    /// <summary>Largest pool: seven families of at most this many values keep the attribute pool under 200k.</summary>
    public const int MaxPoolSize = 28_000;

    /// <summary>Password of every generated user.</summary>
    public const string DemoPassword = "demo";

    private const double ZipfExponent = 1.1;
    private const int MaxSessionEvents = 8;

    private static readonly string[] Syllables =
        ["ka", "lo", "mi", "ner", "tus", "vex", "zor", "pha", "qui", "dra", "bel", "cin", "mon", "ra", "sel", "tor"];

    private static readonly string[] Tlds = [".com", ".net", ".org", ".info", ".ru", ".io", ".xyz"];
    private static readonly string[] FirstOctets = ["23", "31", "45", "62", "77", "89", "91", "103", "109", "141", "176", "185", "193", "203", "212"];
    private static readonly string[] Extensions = [".exe", ".pdf", ".docx", ".zip", ".js", ".ps1", ".xlsm"];
    private static readonly string[] Paths = ["login", "update", "invoice", "download", "wp-admin", "track", "verify"];
    private static readonly string[] SubjectWords = ["Invoice overdue", "Password reset", "Your parcel", "Urgent: payment", "Meeting notes", "Account locked", "Shared document"];
    private static readonly string[] EventTypes = ["ssh_login", "file_download", "web_visit", "email"];

    private readonly GeneratorOptions _options;

    /// <summary>Creates a generator.</summary>
    /// <exception cref="ArgumentException">The options are not usable (see <see cref="GeneratorOptions.Problem"/>).</exception>
    public ArchiveGenerator(GeneratorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problem() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        _options = options;
    }

    /// <summary>The most frequent IPv4 address of every generated archive (rank 0 of the ipv4 pool).</summary>
    public static string HubIp => Ipv4(0);

    /// <summary>The most frequent domain of every generated archive (rank 0 of the domain pool).</summary>
    public static string HubDomain => Domain(0);

    /// <summary>The e-mail address of generated user <paramref name="number"/> (1-based).</summary>
    public static string UserEmail(int number, int orgs) =>
        string.Create(CultureInfo.InvariantCulture, $"analyst{number}@org{((number - 1) % orgs) + 1}.example");

    /// <summary>The summary of the last completed enumeration of <see cref="Documents"/>, or null before one.</summary>
    public GeneratorSummary? Summary { get; private set; }

    /// <summary>Writes every document as one line of JSON (NDJSON) and returns the summary.</summary>
    public async Task<GeneratorSummary> WriteAsync(TextWriter writer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var sb = new StringBuilder(64 * 1024);
        foreach (var doc in Documents())
        {
            TahoeJsonWriter.Append(sb, doc);
            sb.Append('\n');
            if (sb.Length >= 60 * 1024)
            {
                await writer.WriteAsync(sb, cancellationToken).ConfigureAwait(false);
                sb.Clear();
            }
        }

        await writer.WriteAsync(sb, cancellationToken).ConfigureAwait(false);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        return Summary!;
    }

    /// <summary>The documents in output order; enumerating again yields the same documents.</summary>
    public IEnumerable<TahoeDict> Documents()
    {
        var run = new Run(_options);
        foreach (var doc in run.Identity())
        {
            yield return doc;
        }

        var pending = new List<TahoeDict>(16);
        for (var i = 0; i < _options.Events; i++)
        {
            run.NextEvent(i, pending);
            foreach (var doc in pending)
            {
                yield return doc;
            }

            pending.Clear();
        }

        run.CloseSessions(pending);
        foreach (var doc in pending)
        {
            yield return doc;
        }

        Summary = run.Summarise();
    }

    // Value of each pool rank: pure functions of the rank, unique per rank, independent of the seed.
    private static string Word(long rank)
    {
        var n = rank + Syllables.Length;
        var sb = new StringBuilder();
        while (n > 0)
        {
            sb.Insert(0, Syllables[n % Syllables.Length]);
            n /= Syllables.Length;
        }

        return sb.ToString();
    }

    private static string Ipv4(int rank)
    {
        var low = ((uint)(rank / FirstOctets.Length) + 1) * 2654435761u & 0xFFFFFFu;
        return string.Create(CultureInfo.InvariantCulture, $"{FirstOctets[rank % FirstOctets.Length]}.{low >> 16}.{(low >> 8) & 0xFF}.{low & 0xFF}");
    }

    private static string Domain(int rank) => Word(rank) + Tlds[rank % Tlds.Length];

    /// <summary>The domain rank a URL (or e-mail address) of <paramref name="rank"/> lives on: skewed to popular domains.</summary>
    private static int DomainOf(int rank, int poolSize) =>
        rank == 0 ? 0 : (int)(Mix((ulong)rank) % (ulong)Math.Min(poolSize, 1 + (rank / 4)));

    private static string Url(int rank, int poolSize) =>
        string.Create(CultureInfo.InvariantCulture, $"{(rank % 3 == 0 ? "http" : "https")}://{Domain(DomainOf(rank, poolSize))}/{Word(rank)}/{Paths[rank % Paths.Length]}.php");

    private static string FileName(int rank) => Word(rank) + Extensions[rank % Extensions.Length];

    private static string Sha256(int rank) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes("cybexp-sample-" + rank.ToString(CultureInfo.InvariantCulture))));

    private static string Email(int rank, int poolSize) => Word(rank) + "@" + Domain(DomainOf(rank * 7, poolSize));

    private static string Hostname(int rank) => string.Create(CultureInfo.InvariantCulture, $"{Word(rank)}-{rank % 100:D2}.corp.example");

    private static string Subject(int rank) =>
        string.Create(CultureInfo.InvariantCulture, $"{SubjectWords[rank % SubjectWords.Length]} #{rank}");

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        return x ^ (x >> 33);
    }

    /// <summary>The attribute families; a rank in a family names one value (objects: file and url).</summary>
    private enum Family
    {
        Ipv4,
        Domain,
        Url,
        File,
        Email,
        Hostname,
        Subject,
    }

    /// <summary>The state of one enumeration.</summary>
    private sealed class Run
    {
        private const int FamilyCount = 7;
        private readonly GeneratorOptions _o;
        private readonly Random _random;
        private readonly double[] _zipf;
        private readonly double[] _orgWeights;
        private readonly bool[][] _emitted = new bool[FamilyCount][];
        private readonly bool[] _emittedDomain;
        private readonly bool[] _emittedFileName;
        private readonly bool[] _emittedSha;
        private readonly long[][] _eventCounts = new long[FamilyCount][];
        private readonly List<string> _orgIds = [];
        private readonly OpenSession?[] _sessions;
        private readonly HashSet<(Family, int)> _seenInEvent = [];
        private long _documents, _events, _sessionCount, _attributes, _objects, _malicious;

        public Run(GeneratorOptions options)
        {
            _o = options;
            _random = new Random(options.Seed);
            _zipf = new double[options.PoolSize];
            var total = 0.0;
            for (var k = 0; k < options.PoolSize; k++)
            {
                total += Math.Pow(k + 1, -ZipfExponent);
                _zipf[k] = total;
            }

            _orgWeights = new double[options.Orgs];
            total = 0;
            for (var k = 0; k < options.Orgs; k++)
            {
                total += 1.0 / (k + 1);
                _orgWeights[k] = total;
            }

            for (var f = 0; f < FamilyCount; f++)
            {
                _emitted[f] = new bool[options.PoolSize];
                _eventCounts[f] = new long[options.PoolSize];
            }

            _emittedDomain = _emitted[(int)Family.Domain];
            _emittedFileName = new bool[options.PoolSize];
            _emittedSha = new bool[options.PoolSize];
            _sessions = new OpenSession?[options.Orgs];
        }

        public IEnumerable<TahoeDict> Identity()
        {
            // Identity children repeat (every user's password digest is that of "demo"): each goes out once.
            var emitted = new HashSet<InstanceHash>();
            var users = new List<TahoeUser>();
            for (var u = 1; u <= _o.Users; u++)
            {
                var user = TahoeUser.Create(UserEmail(u, _o.Orgs), DemoPassword, string.Create(CultureInfo.InvariantCulture, $"Analyst {u}"));
                users.Add(user);
                foreach (var d in user.Descendants.Where(d => emitted.Add(d.Hash)))
                {
                    yield return Count(d.Document);
                }

                yield return Count(user.Document);
            }

            for (var k = 1; k <= _o.Orgs; k++)
            {
                // Members: the users numbered into this org, plus analyst1, who sees every org (handy for demos).
                var members = users.Where((_, index) => index == 0 || (index % _o.Orgs) + 1 == k).ToList();
                var admin = users[k - 1];
                var org = TahoeOrg.Create(
                    string.Create(CultureInfo.InvariantCulture, $"org{k}"),
                    members,
                    [admin],
                    string.Create(CultureInfo.InvariantCulture, $"Example Org {k}"));
                _orgIds.Add(org.Hash.Value);
                foreach (var d in org.Descendants.Where(d => emitted.Add(d.Hash)))
                {
                    yield return Count(d.Document);
                }

                yield return Count(org.Document);
            }
        }

        public void NextEvent(int index, List<TahoeDict> output)
        {
            _seenInEvent.Clear();
            var org = Pick(_orgWeights);
            var span = (double)_o.Days * 86_400;
            var timestamp = Math.Floor(_o.Start + (_random.NextDouble() * span));
            var subType = EventTypes[_random.Next(EventTypes.Length)];
            var children = new List<TahoeInstance>(8);
            var suspicious = new List<TahoeInstance>(4);
            var ordinary = new List<TahoeInstance>(4);
            switch (subType)
            {
                case "ssh_login":
                    suspicious.Add(Attribute(Family.Ipv4, Rank(), output));
                    ordinary.Add(Attribute(Family.Ipv4, Rank(), output));
                    ordinary.Add(Attribute(Family.Hostname, Rank(), output));
                    ordinary.Add(Attribute(Family.Domain, Rank(), output));
                    if (_random.NextDouble() < 0.5)
                    {
                        suspicious.Add(FileObject(Rank(), output));
                    }

                    break;
                case "file_download":
                    suspicious.Add(UrlObject(Rank(), output));
                    suspicious.Add(FileObject(Rank(), output));
                    ordinary.Add(Attribute(Family.Ipv4, Rank(), output));
                    break;
                case "web_visit":
                    suspicious.Add(UrlObject(Rank(), output));
                    ordinary.Add(Attribute(Family.Ipv4, Rank(), output));
                    ordinary.Add(Attribute(Family.Hostname, Rank(), output));
                    if (_random.NextDouble() < 0.5)
                    {
                        suspicious.Add(UrlObject(Rank(), output));
                    }

                    break;
                default:
                    suspicious.Add(Attribute(Family.Email, Rank(), output));
                    ordinary.Add(Attribute(Family.Email, Rank(), output));
                    suspicious.Add(Attribute(Family.Subject, Rank(), output));
                    ordinary.Add(Attribute(Family.Domain, Rank(), output));
                    if (_random.NextDouble() < 0.3)
                    {
                        suspicious.Add(FileObject(Rank(), output));
                    }

                    break;
            }

            children.AddRange(suspicious);
            children.AddRange(ordinary);
            var draw = _random.NextDouble();
            var category = draw < _o.MaliciousShare ? "malicious" : draw < _o.MaliciousShare + ((1 - _o.MaliciousShare) * 0.6) ? "benign" : "unknown";

            // Contexts: a malicious event marks what made it malicious; some benign events vouch for ordinary values.
            IEnumerable<TahoeInstance>? malicious = category == "malicious" ? suspicious : null;
            IEnumerable<TahoeInstance>? benign = category == "benign" && _random.NextDouble() < 0.3 ? ordinary.Take(1) : null;
            var ev = TahoeEvent.Create(subType, children, _orgIds[org], timestamp, benign, malicious).SetCategory(category);
            _events++;
            if (category == "malicious")
            {
                _malicious++;
            }

            output.Add(Count(ev.Document));
            if (_random.NextDouble() < _o.SessionsShare)
            {
                AddToSession(org, ev, output);
            }
        }

        public void CloseSessions(List<TahoeDict> output)
        {
            for (var k = 0; k < _sessions.Length; k++)
            {
                if (_sessions[k] is { } open)
                {
                    output.Add(Count(open.Close()));
                    _sessions[k] = null;
                }
            }
        }

        public GeneratorSummary Summarise()
        {
            var top = new List<GeneratedValue>();
            foreach (var family in Enum.GetValues<Family>())
            {
                var counts = _eventCounts[(int)family];
                var best = 0;
                for (var r = 1; r < counts.Length; r++)
                {
                    if (counts[r] > counts[best])
                    {
                        best = r;
                    }
                }

                if (counts[best] == 0)
                {
                    continue;
                }

                var (sub, value) = Describe(family, best);
                top.Add(new GeneratedValue(sub, value, TahoeAttribute.Create(sub, value).Hash, counts[best]));
            }

            return new GeneratorSummary(
                _documents,
                _events,
                _sessionCount,
                _attributes,
                _objects,
                _o.Users,
                _o.Orgs,
                _malicious,
                [.. top.OrderByDescending(v => v.Events).ThenBy(v => v.SubType, StringComparer.Ordinal)]);
        }

        private (string SubType, string Value) Describe(Family family, int rank) => family switch
        {
            Family.Ipv4 => ("ipv4", Ipv4(rank)),
            Family.Domain => ("domain", Domain(rank)),
            Family.Url => ("url", Url(rank, _o.PoolSize)),
            Family.File => ("sha256", Sha256(rank)),
            Family.Email => ("email_addr", Email(rank, _o.PoolSize)),
            Family.Hostname => ("hostname", Hostname(rank)),
            _ => ("subject", Subject(rank)),
        };

        private void AddToSession(int org, TahoeEvent ev, List<TahoeDict> output)
        {
            if (_sessions[org] is not { } open)
            {
                Span<byte> bytes = stackalloc byte[16];
                _random.NextBytes(bytes);
                bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
                bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
                var id = TahoeAttribute.Create("sessionid", new Guid(bytes, bigEndian: true).ToString("D"));
                output.Add(Count(id.Document));
                _attributes++;
                var session = TahoeSession.Create("session", [id]);
                open = new OpenSession(session, 2 + _random.Next(MaxSessionEvents - 1));
                _sessions[org] = open;
            }

            open.Events.Add(ev);
            if (open.Events.Count >= open.Size)
            {
                output.Add(Count(open.Close()));
                _sessions[org] = null;
            }
        }

        private TahoeDict Count(TahoeDict doc)
        {
            _documents++;
            if (doc["itype"] is TahoeString { Value: "session" })
            {
                _sessionCount++;
            }

            return doc;
        }

        private int Rank()
        {
            var u = _random.NextDouble() * _zipf[^1];
            var i = Array.BinarySearch(_zipf, u);
            return Math.Min(i < 0 ? ~i : i, _zipf.Length - 1);
        }

        private int Pick(double[] cumulative)
        {
            var u = _random.NextDouble() * cumulative[^1];
            var i = Array.BinarySearch(cumulative, u);
            return Math.Min(i < 0 ? ~i : i, cumulative.Length - 1);
        }

        private TahoeAttribute Attribute(Family family, int rank, List<TahoeDict> output)
        {
            var (sub, value) = Describe(family, rank);
            var attr = TahoeAttribute.Create(sub, value);
            Note(family, rank);
            Emit(_emitted[(int)family], rank, attr, output);
            return attr;
        }

        private TahoeObject FileObject(int rank, List<TahoeDict> output)
        {
            var name = TahoeAttribute.Create("filename", FileName(rank));
            var hash = TahoeAttribute.Create("sha256", Sha256(rank));
            Emit(_emittedFileName, rank, name, output);
            Emit(_emittedSha, rank, hash, output);
            var file = TahoeObject.Create("file", name, hash);
            Note(Family.File, rank);
            Emit(_emitted[(int)Family.File], rank, file, output);
            return file;
        }

        private TahoeObject UrlObject(int rank, List<TahoeDict> output)
        {
            var url = TahoeAttribute.Create("url", Url(rank, _o.PoolSize));
            var domainRank = DomainOf(rank, _o.PoolSize);
            var domain = TahoeAttribute.Create("domain", Domain(domainRank));
            Emit(_emittedDomain, domainRank, domain, output);
            Note(Family.Domain, domainRank);
            var obj = TahoeObject.Create("url", url, domain);
            Note(Family.Url, rank);

            // The url attribute and the url object share the rank, so one flag covers both.
            if (!_emitted[(int)Family.Url][rank])
            {
                output.Add(Count(url.Document));
                _attributes++;
            }

            Emit(_emitted[(int)Family.Url], rank, obj, output);
            return obj;
        }

        private void Emit(bool[] emitted, int rank, TahoeInstance instance, List<TahoeDict> output)
        {
            if (emitted[rank])
            {
                return;
            }

            emitted[rank] = true;
            output.Add(Count(instance.Document));
            if (instance.Itype == "attribute")
            {
                _attributes++;
            }
            else
            {
                _objects++;
            }
        }

        /// <summary>Counts an event once per value it references.</summary>
        private void Note(Family family, int rank)
        {
            if (_seenInEvent.Add((family, rank)))
            {
                _eventCounts[(int)family][rank]++;
            }
        }
    }

    /// <summary>A session still collecting events.</summary>
    private sealed class OpenSession(TahoeSession session, int size)
    {
        public List<TahoeEvent> Events { get; } = [];

        public int Size { get; } = size;

        public TahoeDict Close() => session.AddEvent(Events).Document;
    }
}
