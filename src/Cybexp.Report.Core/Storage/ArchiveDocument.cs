using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Storage;

/// <summary>
/// A TAHOE document as the archive stores it: the full document plus the fields the stores index
/// (edges, and for events the owning org, time and category). Built from a document whose <c>_hash</c>
/// has been checked against its content.
/// </summary>
public sealed class ArchiveDocument
{
    // The parsed document; null for a document built for the writer of an ingest (TryCreateVerified of a record)
    // until something asks for it: it is then read back from the stored text.
    private TahoeDict? _document;

    // The stored text as a string (serialised on first use) or, for a document built for the writer of an ingest,
    // packed (PackedDocumentText: an event in about a quarter of the string's bytes, and nothing else of the parsed
    // document is kept alive until the writer takes it).
    private string? _storedText;
    private readonly byte[]? _storedPacked;

    private ImmutableArray<InstanceHash> _cref;
    private ImmutableArray<InstanceHash> _ref;
    private ImmutableArray<InstanceHash> _benRef;
    private ImmutableArray<InstanceHash> _malRef;

    // The hash and the references as bytes (see Packed): made on creation for a document built for an ingest's writer,
    // otherwise on first use.
    private byte[]? _packed;

    private ArchiveDocument(InstanceHash hash, string itype, string subType, TahoeDict document, byte[]? storedPacked = null)
    {
        Hash = hash;
        Itype = itype;
        SubType = subType;
        _storedPacked = storedPacked;
        // Identity documents are read again by the writer (IdentityDocuments), and are few: keep them parsed.
        _document = storedPacked is null || IsUser || IsOrg ? document : null;
        var refs = Edges(document, "_ref");
        var ben = Edges(document, "_ben_ref");
        var mal = Edges(document, "_mal_ref");
        if (storedPacked is null)
        {
            (_ref, _benRef, _malRef) = (refs, ben, mal);
        }
        else
        {
            // For the writer: the hash and the references as bytes, with the references' contexts, in one array,
            // made here on the parallel stage. The lists of hash strings go with the parsed document (read back from
            // the stored text if something asks for them): a document waiting for the writer is this object, its hash,
            // that array and its stored text, where the lists held about a dozen objects more.
            _packed = Pack(hash, refs, ben, mal);
        }

        if (itype == "event")
        {
            OrgId = document["orgid"] is TahoeString o ? o.Value : null;
            Timestamp = document["timestamp"] switch
            {
                TahoeFloat f => f.Value,
                TahoeInt i => (double)i.Value,
                _ => null,
            };
            Category = document["category"] is TahoeString c ? c.Value : "unknown";
        }
    }

    /// <summary>The instance hash.</summary>
    public InstanceHash Hash { get; }

    /// <summary>attribute, object, event, session, raw or report.</summary>
    public string Itype { get; }

    /// <summary>The sub_type.</summary>
    public string SubType { get; }

    /// <summary>The whole stored document (without MongoDB's <c>_id</c>).</summary>
    /// <remarks>
    /// A document built for an ingest's writer (<see cref="TryCreateVerified(TahoeDocumentRecord, out ArchiveDocument?, out string)"/>)
    /// parses its stored text again on first use (equal values; no other state changes).
    /// </remarks>
    public TahoeDict Document => _document ??= MongoExtendedJson.Normalize(PythonJson.Parse(StoredText, DuplicateKeys.LastWins)).AsDict;

    /// <summary>All descendants (for a session: its events).</summary>
    public ImmutableArray<InstanceHash> Ref => _ref.IsDefault ? _ref = Edges(Document, "_ref") : _ref;

    /// <summary>Direct children (found on first use: stores do not index them).</summary>
    public ImmutableArray<InstanceHash> Cref => _cref.IsDefault ? _cref = Edges(Document, "_cref") : _cref;

    /// <summary>Descendants seen in a benign context (events).</summary>
    public ImmutableArray<InstanceHash> BenRef => _benRef.IsDefault ? _benRef = Edges(Document, "_ben_ref") : _benRef;

    /// <summary>Descendants seen in a malicious context (events).</summary>
    public ImmutableArray<InstanceHash> MalRef => _malRef.IsDefault ? _malRef = Edges(Document, "_mal_ref") : _malRef;

    /// <summary>The 32 bytes of <see cref="Hash"/>.</summary>
    public ReadOnlySpan<byte> HashBytes => Packed.AsSpan(0, InstanceHash.ByteLength);

    /// <summary>The 32 bytes of each hash of <see cref="Ref"/>, in its order (ascending, distinct).</summary>
    public ReadOnlySpan<byte> RefHashBytes => Packed.AsSpan(InstanceHash.ByteLength, RefCount * InstanceHash.ByteLength);

    /// <summary>
    /// One byte per hash of <see cref="Ref"/>, in its order: <see cref="EventRefContext.Malicious"/> when the hash is in
    /// <see cref="MalRef"/>, else <see cref="EventRefContext.Benign"/> when it is in <see cref="BenRef"/>, else
    /// <see cref="EventRefContext.None"/>.
    /// </summary>
    public ReadOnlySpan<byte> RefContexts => Packed.AsSpan(InstanceHash.ByteLength + (RefCount * InstanceHash.ByteLength));

    private int RefCount => (Packed.Length - InstanceHash.ByteLength) / (InstanceHash.ByteLength + 1);

    // The hash, then each reference's 32 bytes, then each reference's context.
    private byte[] Packed => _packed ??= Pack(Hash, Ref, BenRef, MalRef);

    private static byte[] Pack(InstanceHash hash, ImmutableArray<InstanceHash> refs, ImmutableArray<InstanceHash> ben, ImmutableArray<InstanceHash> mal)
    {
        const int Bytes = InstanceHash.ByteLength;
        var packed = new byte[Bytes + (refs.Length * (Bytes + 1))];
        hash.WriteBytes(packed.AsSpan(0, Bytes));
        var contexts = packed.AsSpan(Bytes + (refs.Length * Bytes));
        for (var i = 0; i < refs.Length; i++)
        {
            var r = refs[i];
            r.WriteBytes(packed.AsSpan(Bytes + (i * Bytes), Bytes));

            // The context lists are sorted and distinct, as _ref is.
            contexts[i] = mal.AsSpan().BinarySearch(r) >= 0 ? EventRefContext.Malicious : ben.AsSpan().BinarySearch(r) >= 0 ? EventRefContext.Benign : EventRefContext.None;
        }

        return packed;
    }

    /// <summary>The owning org of an event.</summary>
    public string? OrgId { get; }

    /// <summary>Epoch seconds of an event.</summary>
    public double? Timestamp { get; }

    /// <summary>benign, malicious or unknown, for events.</summary>
    public string? Category { get; }

    /// <summary>
    /// The document as stores keep it (<see cref="StoredDocumentText.Of"/>), serialised once on first use. A document
    /// built for an ingest's writer holds it packed (<see cref="StoredPacked"/>, made on the parallel stage) and
    /// unpacks it on each call, so the string lives only as long as the caller keeps it.
    /// </summary>
    public string StoredText => _storedPacked is { } packed ? PackedDocumentText.Unpack(packed) : _storedText ??= TahoeJsonWriter.Write(Document);

    /// <summary>The stored text (<see cref="StoredText"/>) packed (<see cref="PackedDocumentText"/>), as stores write it.</summary>
    public ReadOnlyMemory<byte> StoredPacked => _storedPacked ?? PackedDocumentText.Pack(StoredText);

    /// <summary>True for an identity user document (cybexp_user / cybexp_superuser).</summary>
    public bool IsUser => Itype == "object" && UniqueText.UserSubTypes.Contains(SubType);

    /// <summary>True for an identity org document.</summary>
    public bool IsOrg => Itype == "object" && SubType == "cybexp_org";

    /// <summary>
    /// Checks <paramref name="document"/> (itype, sub_type, <c>_hash</c> equal to the hash of its content, edge lists,
    /// event fields) and builds the archive form, or says what is wrong.
    /// </summary>
    public static bool TryCreate(TahoeDict document, out ArchiveDocument? result, out string error) =>
        TryCreate(document, recomputeHash: true, out result, out error);

    /// <summary>
    /// As <see cref="TryCreate(TahoeDict, out ArchiveDocument?, out string)"/> for a document that
    /// <see cref="DocumentVerifier"/> has already found valid: the hash it recomputed is not computed again.
    /// </summary>
    public static bool TryCreateVerified(TahoeDict document, out ArchiveDocument? result, out string error) =>
        TryCreate(document, recomputeHash: false, out result, out error);

    /// <summary>
    /// As <see cref="TryCreateVerified(TahoeDict, out ArchiveDocument?, out string)"/> for the document of
    /// <paramref name="record"/> (which <see cref="DocumentVerifier"/> has found valid), built to be handed to a store's
    /// writer: the stored text is made now, as UTF-8 (the reader's own text when it is already in stored form), and
    /// the parsed document is let go (see <see cref="Document"/>).
    /// </summary>
    public static bool TryCreateVerified(TahoeDocumentRecord record, out ArchiveDocument? result, out string error)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Document is not { } document)
        {
            result = null;
            error = record.Error ?? "unreadable document";
            return false;
        }

        return TryCreate(document, recomputeHash: false, forWriter: true, record.StoredPacked, out result, out error);
    }

    private static bool TryCreate(TahoeDict document, bool recomputeHash, out ArchiveDocument? result, out string error) =>
        TryCreate(document, recomputeHash, forWriter: false, storedPacked: null, out result, out error);

    // `forWriter`: keep the stored text packed (`storedPacked` when given, else written now) instead of the document.
    private static bool TryCreate(
        TahoeDict document, bool recomputeHash, bool forWriter, byte[]? storedPacked, out ArchiveDocument? result, out string error)
    {
        result = null;
        error = string.Empty;
        document = document.ContainsKey("_id") ? document.Without("_id") : document;
        var unique = string.Empty;
        if (recomputeHash && !UniqueText.TryCompute(document, out unique, out error))
        {
            return false;
        }

        if (document["itype"] is not TahoeString || document["sub_type"] is not TahoeString)
        {
            error = "'itype' and 'sub_type' must be strings";
            return false;
        }

        if (document["_hash"] is not TahoeString { Value: var stated } || !InstanceHash.TryParse(stated, out var hash) || stated != hash.Value)
        {
            error = "'_hash' is missing or not 64 lowercase hex digits";
            return false;
        }

        if (recomputeHash)
        {
            InstanceHash computed;
            try
            {
                computed = InstanceHash.Of(unique);
            }
            catch (ArgumentException e)
            {
                error = e.Message;
                return false;
            }

            if (computed != hash)
            {
                error = $"'_hash' does not match the content (content hashes to {computed})";
                return false;
            }
        }

        var itype = document["itype"]!.AsString;
        if (itype is not ("attribute" or "object" or "event" or "session" or "raw" or "report"))
        {
            error = $"unknown itype '{itype}' (accepted: attribute, object, event, session, raw, report)";
            return false;
        }

        foreach (var key in EdgeKeys)
        {
            if (document.TryGet(key, out var list) && !IsHashList(list))
            {
                error = $"'{key}' must be a list of 64-hex-digit hashes";
                return false;
            }
        }

        if (itype == "event")
        {
            if (document["orgid"] is not TahoeString)
            {
                error = "event 'orgid' must be a string";
                return false;
            }

            if (document["category"] is { } cat && cat is not TahoeString { Value: "benign" or "malicious" or "unknown" })
            {
                error = $"event 'category' must be benign, malicious or unknown, got {cat}";
                return false;
            }
        }

        var packed = forWriter ? storedPacked ?? PackedDocumentText.Pack(TahoeJsonWriter.WriteUtf8(document)) : null;
        result = new ArchiveDocument(hash, itype, document["sub_type"]!.AsString, document, packed);
        return true;
    }

    /// <summary>
    /// Rebuilds the archive form of a document the store wrote itself (already checked on the way in); does not
    /// recompute the hash.
    /// </summary>
    public static ArchiveDocument FromStored(TahoeDict document) =>
        new(InstanceHash.Parse(document["_hash"]!.AsString), document["itype"]!.AsString, document["sub_type"]!.AsString, document);

    /// <summary>The hashes under <paramref name="key"/> (an edge list such as <c>_usr_ref</c>).</summary>
    public ImmutableArray<InstanceHash> EdgeList(string key) => Edges(Document, key);

    private static readonly string[] EdgeKeys = ["_ref", "_cref", "_ben_ref", "_mal_ref", "_usr_ref", "_adm_ref"];

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    // The same rule as InstanceHash.TryParse (64 hex digits, either case), without building the hash.
    private static bool IsHashList(TahoeValue v)
    {
        if (v is not TahoeList l)
        {
            return false;
        }

        foreach (var item in l.Items)
        {
            if (item is not TahoeString { Value: { Length: 64 } s } || s.AsSpan().ContainsAnyExcept(HexDigits))
            {
                return false;
            }
        }

        return true;
    }

    private static ImmutableArray<InstanceHash> Edges(TahoeDict doc, string key)
    {
        if (doc[key] is not TahoeList l)
        {
            return [];
        }

        if (l.Count == 0)
        {
            return [];
        }

        // Sorted and distinct (the lists are sets in the original).
        var hashes = new InstanceHash[l.Count];
        var count = 0;
        foreach (var item in l.Items)
        {
            if (item is TahoeString s && InstanceHash.TryParse(s.Value, out var h))
            {
                hashes[count++] = h;
            }
        }

        var sorted = hashes.AsSpan(0, count);
        sorted.Sort();
        var distinct = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i == 0 || sorted[i] != sorted[distinct - 1])
            {
                sorted[distinct++] = sorted[i];
            }
        }

        return ImmutableCollectionsMarshal.AsImmutableArray(distinct == hashes.Length ? hashes : hashes[..distinct]);
    }
}
