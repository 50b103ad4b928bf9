using System.Collections.Immutable;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Storage;

/// <summary>Which events a reference counts in: <c>_ref</c> (all), <c>_ben_ref</c>, <c>_mal_ref</c>, or in <c>_ref</c> but neither.</summary>
public enum EventContext
{
    /// <summary>Any reference (<c>_ref</c>).</summary>
    All,
    /// <summary>Referenced in a benign context (<c>_ben_ref</c>).</summary>
    Benign,
    /// <summary>Referenced in a malicious context (<c>_mal_ref</c>).</summary>
    Malicious,
    /// <summary>Referenced with no context (in <c>_ref</c>, in neither context list).</summary>
    Unknown,
}

/// <summary>
/// Filters on events: inclusive time bounds in epoch seconds (a bound of 0 or an infinite bound means unbounded,
/// as the original's <c>dtresolve</c>), an optional category and a context.
/// </summary>
public sealed record EventFilter(double Start, double End, string? Category, EventContext Context)
{
    /// <summary>Every event.</summary>
    public static EventFilter Everything { get; } = new(0, 0, null, EventContext.All);

    /// <summary>The lower bound to apply, or negative infinity.</summary>
    public double Lower => Start == 0 || double.IsNaN(Start) ? double.NegativeInfinity : Start;

    /// <summary>The upper bound to apply, or positive infinity.</summary>
    public double Upper => End == 0 || double.IsNaN(End) ? double.PositiveInfinity : End;
}

/// <summary>The orgs whose events a user may see (the orgs whose <c>_usr_ref</c> holds the user), sorted and distinct.</summary>
public sealed record Visibility
{
    /// <summary>Creates a visibility over <paramref name="orgIds"/>.</summary>
    public Visibility(IEnumerable<string> orgIds) => OrgIds = [.. orgIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Org hashes (as the events' <c>orgid</c> strings).</summary>
    public ImmutableArray<string> OrgIds { get; }

    /// <summary>True when the user sees no event at all.</summary>
    public bool IsEmpty => OrgIds.IsEmpty;
}

/// <summary>What one batch write did.</summary>
public sealed record WriteSummary(int Inserted, int Duplicates, int Updated);

/// <summary>One open write transaction of the archive (<see cref="IArchiveStore.BeginWriteAsync"/>).</summary>
public interface IArchiveWrite : IAsyncDisposable
{
    /// <summary>Adds documents to the transaction, in order after those added before.</summary>
    Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken);

    /// <summary>Commits every document added; what the transaction did.</summary>
    Task<WriteSummary> CommitAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Does a small piece (milliseconds) of work the transaction would otherwise do at commit, for a caller that
    /// would wait anyway (an ingest waiting for its parse stage); false when none is left. Optional: the commit does
    /// whatever is left, and nothing a transaction stores depends on how often this was called.
    /// </summary>
    bool WorkWhileIdle() => false;
}

/// <summary>
/// The default <see cref="IArchiveWrite"/>: holds the documents and writes them with one
/// <see cref="IArchiveStore.WriteAsync"/> (one transaction) at commit.
/// </summary>
public sealed class BufferedArchiveWrite(IArchiveStore store) : IArchiveWrite
{
    private readonly List<ArchiveDocument> _documents = [];

    /// <inheritdoc/>
    public Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documents);
        _documents.AddRange(documents);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task<WriteSummary> CommitAsync(CancellationToken cancellationToken)
    {
        var summary = await store.WriteAsync(_documents, cancellationToken).ConfigureAwait(false);
        _documents.Clear();
        return summary;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _documents.Clear();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Write transactions of one caller (an ingest) that the store may commit several at a time
/// (<see cref="IArchiveStore.BeginWriteSequence"/>). A write's <see cref="IArchiveWrite.CommitAsync"/> may be called
/// while up to <see cref="CommitsInFlight"/> − 1 earlier commits of the sequence are still running; the result (the
/// stored content and every <see cref="WriteSummary"/>) is that of committing them one after the other in the order
/// their commits were called, and a write commits only if every earlier one of the sequence did.
/// </summary>
public interface IArchiveWriteSequence
{
    /// <summary>How many commits of the sequence may run at once (1: each must complete before the next is called).</summary>
    int CommitsInFlight { get; }

    /// <summary>Opens the next write transaction of the sequence.</summary>
    Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken);
}

/// <summary>The default <see cref="IArchiveWriteSequence"/>: the store's own writes, one commit at a time.</summary>
public sealed class SerialArchiveWriteSequence(IArchiveStore store) : IArchiveWriteSequence
{
    /// <inheritdoc/>
    public int CommitsInFlight => 1;

    /// <inheritdoc/>
    public Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken) => store.BeginWriteAsync(cancellationToken);
}

/// <summary>An event as the graph engines see it: identity, time, maliciousness and the hashes it references.</summary>
public sealed record EventEdges(InstanceHash Hash, double Timestamp, string Category, ImmutableArray<InstanceHash> Ref);

/// <summary>Events per time bucket: bucket start (epoch seconds) and count.</summary>
public readonly record struct BucketCount(double Start, long Count);

/// <summary>
/// The TAHOE archive: threat documents and the indexes the report engines query. Every lookup of events is limited
/// to a <see cref="Visibility"/>; documents are only ever reached through visible events.
/// </summary>
public interface IArchiveStore
{
    /// <summary>
    /// Writes a batch in one transaction. A document whose hash is new is inserted; one whose hash exists with the same
    /// content is a duplicate; one whose hash exists with other content replaces the stored mutable fields (an event's
    /// category and contexts, a session's events, an org's members).
    /// </summary>
    Task<WriteSummary> WriteAsync(IReadOnlyList<ArchiveDocument> batch, CancellationToken cancellationToken);

    /// <summary>
    /// Documents per transaction that suit this store when the caller has no preference (an ingest's default batch).
    /// A store that writes chunks into an open transaction as they come (<see cref="BeginWriteAsync"/>) can take large
    /// transactions without holding their documents in memory.
    /// </summary>
    int PreferredTransactionSize => 2000;

    /// <summary>
    /// Opens one write transaction that takes documents in several chunks (same rules as <see cref="WriteAsync"/>; the
    /// caller adds each hash at most once per transaction) and commits them together, or nothing when disposed
    /// without <see cref="IArchiveWrite.CommitAsync"/>. The default holds the chunks and writes them with one
    /// <see cref="WriteAsync"/> at commit; a store may write each chunk at once instead, keeping memory flat.
    /// </summary>
    Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken) => Task.FromResult<IArchiveWrite>(new BufferedArchiveWrite(this));

    /// <summary>
    /// Opens a sequence of write transactions whose commits may overlap (<see cref="IArchiveWriteSequence"/>). The
    /// default commits one at a time.
    /// </summary>
    IArchiveWriteSequence BeginWriteSequence() => new SerialArchiveWriteSequence(this);

    /// <summary>Number of (event, referenced hash) pairs whose referenced document is not in the archive.</summary>
    Task<long> CountDanglingReferencesAsync(CancellationToken cancellationToken);

    /// <summary>Number of documents in the archive, by itype.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByItypeAsync(CancellationToken cancellationToken);

    /// <summary>Exact number of visible events referencing <paramref name="instance"/> that match <paramref name="filter"/>.</summary>
    Task<long> CountEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken);

    /// <summary>
    /// Counts of matching visible events per bucket of <paramref name="bucketSeconds"/> starting at
    /// <paramref name="origin"/>; only non-empty buckets, in time order.
    /// </summary>
    Task<IReadOnlyList<BucketCount>> CountEventsByBucketAsync(InstanceHash instance, EventFilter filter, Visibility visibility, double origin, double bucketSeconds, CancellationToken cancellationToken);

    /// <summary>Earliest and latest timestamp of matching visible events, or null when there are none.</summary>
    Task<(double First, double Last)?> EventTimeSpanAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken);

    /// <summary>Matching visible events in the order they were first stored, skipping <paramref name="skip"/>.</summary>
    Task<IReadOnlyList<InstanceHash>> PageEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, int skip, int take, CancellationToken cancellationToken);

    /// <summary>The stored documents among <paramref name="hashes"/> (missing ones are left out), in first-stored order.</summary>
    Task<IReadOnlyList<ArchiveDocument>> GetDocumentsAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken);

    /// <summary>The sessions whose <c>_ref</c> holds <paramref name="eventHash"/>, in first-stored order.</summary>
    Task<IReadOnlyList<InstanceHash>> SessionsOfEventAsync(InstanceHash eventHash, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="take"/> visible events of a session, ordered by timestamp (then first stored).</summary>
    Task<IReadOnlyList<InstanceHash>> EventsOfSessionAsync(InstanceHash session, Visibility visibility, int take, CancellationToken cancellationToken);

    /// <summary>
    /// Every visible event with the stored attributes it references (objects and missing documents left out), in
    /// first-stored order (for graph engines).
    /// </summary>
    IAsyncEnumerable<EventEdges> VisibleEventsAsync(Visibility visibility, CancellationToken cancellationToken);

    /// <summary>Which of <paramref name="hashes"/> are stored attributes.</summary>
    Task<IReadOnlySet<InstanceHash>> AttributesAmongAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken);

    /// <summary>A number that changes whenever the archive changes (for caches kept in step with the store).</summary>
    Task<long> VersionAsync(CancellationToken cancellationToken);
}

/// <summary>A CYBEX-P user (identity document <c>cybexp_user</c> / <c>cybexp_superuser</c>).</summary>
public sealed record UserRecord(InstanceHash Hash, string Email, string Name, string SubType);

/// <summary>A CYBEX-P org with its members (<c>_usr_ref</c>) and admins (<c>_adm_ref</c>).</summary>
public sealed record OrgRecord(InstanceHash Hash, string OrgName, string Name, ImmutableArray<InstanceHash> Users, ImmutableArray<InstanceHash> Admins);

/// <summary>
/// A user (null when no user has the hash) and the orgs whose events they may see, read together at one identity
/// version.
/// </summary>
/// <param name="User">The user, or null.</param>
/// <param name="Visibility">The orgs whose <c>_usr_ref</c> holds the user.</param>
/// <param name="IdentityVersion">
/// The store's identity version this was read at, or null when the store does not version identities. The version
/// grows with every change of users, orgs or membership, so a reading at version V is current for anything that
/// happened at V or earlier.
/// </param>
public sealed record UserAccess(UserRecord? User, Visibility Visibility, long? IdentityVersion);

/// <summary>Users, orgs and membership. Identity documents are written through <see cref="IArchiveStore.WriteAsync"/>.</summary>
public interface IIdentityStore
{
    /// <summary>The user with this <c>_hash</c> (either case) or e-mail address, or null.</summary>
    Task<UserRecord?> FindUserAsync(string hashOrEmail, CancellationToken cancellationToken);

    /// <summary>The org with this <c>_hash</c> or orgname, or null.</summary>
    Task<OrgRecord?> FindOrgAsync(string hashOrName, CancellationToken cancellationToken);

    /// <summary>All users, ordered by e-mail.</summary>
    Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken);

    /// <summary>All orgs, ordered by orgname.</summary>
    Task<IReadOnlyList<OrgRecord>> ListOrgsAsync(CancellationToken cancellationToken);

    /// <summary>The orgs whose <c>_usr_ref</c> holds <paramref name="user"/> (the user's visibility).</summary>
    Task<Visibility> VisibilityOfAsync(InstanceHash user, CancellationToken cancellationToken);

    /// <summary>The stored identity document (user or org) with this hash, or null.</summary>
    Task<TahoeDict?> GetIdentityDocumentAsync(InstanceHash hash, CancellationToken cancellationToken);

    /// <summary>
    /// The user with this hash and their visibility, read at one identity version (one round trip in stores that
    /// override this; the default asks <see cref="FindUserAsync"/> and <see cref="VisibilityOfAsync"/> and reports no
    /// version).
    /// </summary>
    async Task<UserAccess> FindUserAccessAsync(InstanceHash user, CancellationToken cancellationToken)
    {
        var record = await FindUserAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var visibility = record is null ? new Visibility([]) : await VisibilityOfAsync(user, cancellationToken).ConfigureAwait(false);
        return new UserAccess(record, visibility, null);
    }
}
