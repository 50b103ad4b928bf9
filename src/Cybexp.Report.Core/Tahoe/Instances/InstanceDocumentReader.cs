using System.Collections.Immutable;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>The outcome of <see cref="TahoeInstance.FromDocument"/>: the instance, or an error naming the field at fault.</summary>
public sealed class TahoeParseResult
{
    private TahoeParseResult(TahoeInstance? instance, string field, string error)
    {
        Instance = instance;
        Field = field;
        Error = error;
    }

    /// <summary>True when the document was read.</summary>
    public bool Ok => Instance is not null;

    /// <summary>The instance, when <see cref="Ok"/>.</summary>
    public TahoeInstance? Instance { get; }

    /// <summary>The field at fault, when not <see cref="Ok"/>.</summary>
    public string Field { get; }

    /// <summary>What is wrong, when not <see cref="Ok"/>.</summary>
    public string Error { get; }

    /// <summary>The instance, or throws <see cref="FormatException"/> with the error.</summary>
    public TahoeInstance Value => Instance ?? throw new FormatException($"'{Field}': {Error}");

    internal static TahoeParseResult Success(TahoeInstance instance) => new(instance, string.Empty, string.Empty);

    internal static TahoeParseResult Failure(string field, string error) => new(null, field, error);
}

/// <summary>Reads stored documents back into instances (the original's <c>parse</c>, with validation).</summary>
internal static class InstanceDocumentReader
{
    public static TahoeParseResult Read(TahoeDict doc)
    {
        ArgumentNullException.ThrowIfNull(doc);
        try
        {
            var instance = Build(doc);
            var text = doc["_hash"] is TahoeString hs ? hs.Value : null;
            if (!InstanceHash.TryParse(text, out var stored) || stored.Value != text)
            {
                return TahoeParseResult.Failure("_hash", "'_hash' must be 64 lowercase hex digits");
            }

            if (!UniqueText.TryCompute(doc, out var unique, out var error))
            {
                return TahoeParseResult.Failure("data", error);
            }

            if (!string.Equals(unique, instance.Unique, StringComparison.Ordinal))
            {
                return TahoeParseResult.Failure("data", "the document's unique text does not match its type's rules");
            }

            if (instance.Hash != stored)
            {
                return TahoeParseResult.Failure("_hash", $"'_hash' {stored} does not match the content, which hashes to {instance.Hash}");
            }

            return TahoeParseResult.Success(instance);
        }
        catch (DocumentException e)
        {
            return TahoeParseResult.Failure(e.Field, e.Message);
        }
        catch (TahoeException e)
        {
            return TahoeParseResult.Failure(e.Field, e.Message);
        }
    }

    private static TahoeInstance Build(TahoeDict doc)
    {
        var itype = Str(doc, "itype");
        var subType = Str(doc, "sub_type");
        var data = doc.TryGet("data", out var d) ? d : throw new DocumentException("data", "'data' is missing");
        switch (itype)
        {
            case "attribute":
                return TahoeAttribute.Create(subType, data);
            case "object" when subType == "query":
                return ReadQuery(doc, Dict(data));
            case "object" when UniqueText.UserSubTypes.Contains(subType):
                return ReadUser(doc, subType, Dict(data));
            case "object" when subType == "cybexp_org":
                return ReadOrg(doc, Dict(data));
            case "object":
                InstanceRules.RequireSubType(subType);
                return TahoeObject.Restore(subType, Dict(data), Hashes(doc, "_cref"), Hashes(doc, "_ref"));
            case "event":
            {
                InstanceRules.RequireSubType(subType);
                var category = InstanceRules.RequireCategory(Str(doc, "category"));
                var ts = InstanceRules.RequireTimestamp(doc["timestamp"]);
                return TahoeEvent.Restore(
                    subType, Dict(data), Hashes(doc, "_cref"), Hashes(doc, "_ref"), Str(doc, "orgid"), ts, category,
                    Hashes(doc, "_ben_ref"), Hashes(doc, "_mal_ref"));
            }

            case "session":
            {
                InstanceRules.RequireSubType(subType);
                var cref = Hashes(doc, "_cref");
                var refs = Hashes(doc, "_ref");
                // Events are the _ref hashes that are not children; grandchildren cannot be told apart without the store.
                var crefSet = new HashSet<InstanceHash>(cref);
                var events = InstanceRules.Sorted(refs.Where(h => !crefSet.Contains(h)));
                return TahoeSession.Restore(subType, Dict(data), cref, refs, events);
            }

            case "raw":
            {
                InstanceRules.RequireSubType(subType);
                var timezone = doc.ContainsKey("timezone") ? Str(doc, "timezone") : "UTC";
                IEnumerable<string>? refs = doc["_ref"] is { } r ? Strings(r, "_ref") : null;
                return TahoeRaw.Restore(subType, data, Str(doc, "orgid"), timezone, refs);
            }

            case "report":
            {
                InstanceRules.RequireSubType(subType);
                var ts = doc["timestamp"];
                if (ts is not (TahoeFloat or TahoeInt))
                {
                    throw new DocumentException("timestamp", "report 'timestamp' must be a number");
                }

                return TahoeReport.Restore(subType, data, Str(doc, "userid"), ts, Long(doc, "current_page"), Long(doc, "next_page"));
            }

            default:
                throw new DocumentException("itype", $"'itype' must be attribute, object, event, session, raw or report, got '{itype}'");
        }
    }

    private static TahoeQuery ReadQuery(TahoeDict doc, TahoeDict data)
    {
        var socket = First(data, "socket") as TahoeDict ?? throw new DocumentException("data", "query 'data.socket' must hold one dict");
        var ts = First(data, "timestamp") switch
        {
            TahoeFloat f when double.IsFinite(f.Value) => f.Value,
            _ => throw new DocumentException("data", "query 'data.timestamp' must hold one finite float"),
        };
        var encrypted = First(data, "encrypted") is TahoeBool b ? b.Value : throw new DocumentException("data", "query 'data.encrypted' must hold one bool");
        var port = First(socket, "port") is TahoeInt { FitsInt64: true } p ? p.Int64 : throw new DocumentException("data", "query 'data.socket.port' must hold one int");
        var query = TahoeQuery.Restore(new QueryParts(
            FirstString(data, "qtype"), FirstString(data, "qdata"), FirstString(data, "qhash"), FirstString(data, "userid"), ts, encrypted,
            FirstString(data, "status"), FirstString(data, "report_id"), FirstString(socket, "host"), port, FirstString(socket, "nonce")));
        RequireSame(query, doc, data);
        return query;
    }

    private static TahoeUser ReadUser(TahoeDict doc, string subType, TahoeDict data)
    {
        var user = TahoeUser.Restore(subType, FirstString(data, "email_addr"), FirstString(data, "password"), FirstString(data, "name"));
        RequireSame(user, doc, data);
        return user;
    }

    private static TahoeOrg ReadOrg(TahoeDict doc, TahoeDict data) =>
        TahoeOrg.Restore(
            FirstString(data, "orgname"), data, Hashes(doc, "_cref"), Hashes(doc, "_ref"), Hashes(doc, "_usr_ref"), Hashes(doc, "_adm_ref"));

    // Query and user documents are rebuilt from their fields; the stored data and edges must agree with the rebuild.
    private static void RequireSame(TahoeComposite rebuilt, TahoeDict doc, TahoeDict data)
    {
        if (!DataEquals(rebuilt.DataDict, data))
        {
            throw new DocumentException("data", $"'data' holds more or other fields than a {rebuilt.SubType} has");
        }

        if (!Hashes(doc, "_cref").SequenceEqual(rebuilt.Cref))
        {
            throw new DocumentException("_cref", "'_cref' does not match the children 'data' describes");
        }

        if (!Hashes(doc, "_ref").SequenceEqual(rebuilt.Ref))
        {
            throw new DocumentException("_ref", "'_ref' does not match the children 'data' describes");
        }
    }

    private static bool DataEquals(TahoeDict a, TahoeDict b) => a.Equals(b);

    private static string Str(TahoeDict doc, string key) => doc[key] switch
    {
        TahoeString s => s.Value,
        null => throw new DocumentException(key, $"'{key}' is missing"),
        var v => throw new DocumentException(key, $"'{key}' must be a string, got {InstanceRules.Describe(v)}"),
    };

    private static long Long(TahoeDict doc, string key) =>
        doc[key] is TahoeInt { FitsInt64: true } i ? i.Int64 : throw new DocumentException(key, $"'{key}' must be an integer");

    private static TahoeDict Dict(TahoeValue data) =>
        data as TahoeDict ?? throw new DocumentException("data", $"'data' must be a dict, got {InstanceRules.Describe(data)}");

    private static TahoeValue First(TahoeDict data, string key) =>
        data[key] is TahoeList { Count: 1 } l ? l[0] : throw new DocumentException("data", $"'data.{key}' must be a list of one value");

    private static string FirstString(TahoeDict data, string key) =>
        First(data, key) is TahoeString s ? s.Value : throw new DocumentException("data", $"'data.{key}' must hold one string");

    private static ImmutableArray<InstanceHash> Hashes(TahoeDict doc, string key)
    {
        if (doc[key] is not TahoeList list)
        {
            throw new DocumentException(key, $"'{key}' must be a list of hashes");
        }

        var hashes = new List<InstanceHash>(list.Count);
        foreach (var item in list.Items)
        {
            if (item is not TahoeString s || !InstanceHash.TryParse(s.Value, out var h))
            {
                throw new DocumentException(key, $"'{key}' must hold only 64-hex-digit hashes");
            }

            hashes.Add(h);
        }

        return InstanceRules.Sorted(hashes);
    }

    private static List<string> Strings(TahoeValue value, string key)
    {
        if (value is not TahoeList list)
        {
            throw new DocumentException(key, $"'{key}' must be a list of strings");
        }

        return list.Items.Select(i => i is TahoeString s ? s.Value : throw new DocumentException(key, $"'{key}' must hold only strings")).ToList();
    }

    private sealed class DocumentException(string field, string message) : Exception(message)
    {
        public string Field { get; } = field;
    }
}
