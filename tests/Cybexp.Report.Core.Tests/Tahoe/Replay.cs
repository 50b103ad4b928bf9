using System.Reflection;
using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>Runs the build steps of one hash.json case: constructors and method calls bound to names.</summary>
internal sealed class Replay
{
    private Replay()
    {
    }

    public VectorStore Store { get; } = new();

    public Dictionary<string, TahoeInstance> Instances { get; } = new(StringComparer.Ordinal);

    public TahoeException? Error { get; private set; }

    public int ErrorStep { get; private set; } = -1;

    public static Replay Run(JsonElement build)
    {
        var replay = new Replay();
        var step = 0;
        foreach (var s in build.EnumerateArray())
        {
            try
            {
                replay.Step(s);
            }
            catch (TahoeException e)
            {
                replay.Error = e;
                replay.ErrorStep = step;
                break;
            }

            step++;
        }

        return replay;
    }

    private void Step(JsonElement s)
    {
        if (s.TryGetProperty("op", out var op))
        {
            Op(op.GetString()!, s);
            return;
        }

        var name = s.GetProperty("name").GetString()!;
        var built = Build(s);
        Instances[name] = Store.Insert(built);
    }

    private TahoeInstance Build(JsonElement s)
    {
        var itype = s.GetProperty("itype").GetString();
        switch (itype)
        {
            case "attribute":
                var data = VectorValues.Typed(s.GetProperty("data"));
                return s.TryGetProperty("sub_type_tv", out var stv)
                    ? TahoeAttribute.Create(VectorValues.Typed(stv), data)
                    : TahoeAttribute.Create(Str(s, "sub_type"), data);
            case "object":
                if (s.TryGetProperty("children_tv", out _))
                {
                    throw NotInstancesError();
                }

                return TahoeObject.Create(Str(s, "sub_type"), Named(s, "children"));
            case "event":
                var orgid = s.TryGetProperty("orgid_tv", out var otv) ? VectorValues.Typed(otv) : TahoeValue.String(Str(s, "orgid"));
                return TahoeEvent.Create(
                    Str(s, "sub_type"),
                    Named(s, "children"),
                    orgid,
                    VectorValues.Typed(s.GetProperty("timestamp")),
                    s.TryGetProperty("ben", out _) ? Named(s, "ben") : null,
                    s.TryGetProperty("mal", out _) ? Named(s, "mal") : null);
            case "session":
                return TahoeSession.Create(Str(s, "sub_type"), Named(s, "children"));
            case "raw":
                var timezone = s.TryGetProperty("timezone", out var tz) ? tz.GetString()! : "UTC";
                return s.TryGetProperty("pass_as", out var pass) && pass.GetString() == "str"
                    ? TahoeRaw.CreateFromJson(Str(s, "sub_type"), Str(s, "data_json"), Str(s, "orgid"), timezone)
                    : TahoeRaw.Create(Str(s, "sub_type"), PythonJson.Parse(Str(s, "data_json"), DuplicateKeys.LastWins), Str(s, "orgid"), timezone);
            case "report":
                var ts = (TahoeFloat)VectorValues.Typed(s.GetProperty("timestamp"));
                return TahoeReport.Create(
                    Str(s, "sub_type"),
                    Str(s, "userid"),
                    ts.Value,
                    PythonJson.Parse(Str(s, "data_json"), DuplicateKeys.LastWins),
                    s.GetProperty("current_page").GetInt64(),
                    s.GetProperty("next_page").GetInt64());
            case "user":
                return TahoeUser.Create(Str(s, "email"), Str(s, "password"), s.TryGetProperty("full_name", out var fn) ? fn.GetString()! : string.Empty);
            case "org":
                return TahoeOrg.Create(
                    Str(s, "orgname"),
                    Named(s, "users").Cast<TahoeUser>(),
                    Named(s, "admins").Cast<TahoeUser>(),
                    s.TryGetProperty("full_name", out var ofn) ? ofn.GetString()! : string.Empty);
            case "tdql":
                return TahoeQuery.Create(
                    Str(s, "qtype"),
                    Str(s, "qdata"),
                    Str(s, "qhash"),
                    Str(s, "userid"),
                    s.GetProperty("now").GetDouble(),
                    s.GetProperty("encrypted").GetBoolean(),
                    s.TryGetProperty("host", out var h) ? h.GetString()! : "localhost",
                    s.TryGetProperty("port", out var p) ? p.GetInt64() : 0,
                    s.TryGetProperty("nonce", out var n) ? n.GetString()! : string.Empty);
            default:
                throw new InvalidOperationException($"unknown itype {itype}");
        }
    }

    private void Op(string op, JsonElement s)
    {
        var name = s.GetProperty("target").GetString()!;
        var target = Instances[name];
        Instances[name] = op switch
        {
            "set_category" => Store.Set(((TahoeEvent)target).SetCategory(Str(s, "category")), "category"),
            "set_context" => Store.Set(((TahoeEvent)target).SetContext(ContextArgs(s)), "_ben_ref", "_mal_ref"),
            "add_event" => Store.Set(((TahoeSession)target).AddEvent(Named(s, "events")), "_ref"),
            "remove_event" => Store.Set(((TahoeSession)target).RemoveEvent(Named(s, "events")), "_ref"),
            "add_instance" => Store.Edit((TahoeComposite)target, Named(s, "instances"), null),
            "remove_instance" => Store.Edit((TahoeComposite)target, null, Named(s, "instances")),
            "add_ref" => Store.Set(((TahoeRaw)target).AddRef(s.GetProperty("refs").EnumerateArray().Select(r => r.GetString()!)), "_ref"),
            "tdql_status" => Store.SetQuery(((TahoeQuery)target).WithStatus(Str(s, "status"))),
            _ => throw new InvalidOperationException($"unknown op {op}"),
        };
    }

    private (IEnumerable<TahoeInstance> Instances, string Context)[] ContextArgs(JsonElement s)
    {
        var args = s.GetProperty("args").EnumerateArray().ToList();
        var pairs = new List<(IEnumerable<TahoeInstance>, string)>();
        for (var i = 0; i + 1 < args.Count; i += 2)
        {
            pairs.Add((args[i].EnumerateArray().Select(n => Instances[n.GetString()!]).ToList(), args[i + 1].GetString()!));
        }

        return [.. pairs];
    }

    // Children that are not instances cannot be passed at all: every constructor takes IEnumerable<TahoeInstance>. The
    // original raises TypeError at run time; here the signature is checked so a looser API would fail this case.
    private static TahoeException NotInstancesError()
    {
        var create = typeof(TahoeObject).GetMethod(
            nameof(TahoeObject.Create),
            BindingFlags.Public | BindingFlags.Static,
            [typeof(string), typeof(IEnumerable<TahoeInstance>)]);
        Assert.NotNull(create);
        Assert.DoesNotContain(
            typeof(TahoeObject).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == nameof(TahoeObject.Create)),
            m => m.GetParameters().Any(p => p.ParameterType == typeof(IEnumerable<object>) || p.ParameterType == typeof(TahoeValue)));
        return new TahoeException(TahoeErrorKind.TypeError, "children", "children must be instances (enforced by the parameter type)");
    }

    private List<TahoeInstance> Named(JsonElement s, string key) =>
        s.GetProperty(key).EnumerateArray().Select(n => Instances[n.GetString()!]).ToList();

    private static string Str(JsonElement s, string key) => s.GetProperty(key).GetString()!;
}
