using System.Collections.Concurrent;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>
/// Users' access (<see cref="UserAccess"/>) as last read from the store, kept by the identity version it was read at.
/// A worker shares one cache between its queries: a query claimed at identity version V may use an entry read at V or
/// later, since nothing about users, orgs or membership changed in between; an older entry is read again. Readings
/// without a version (stores that do not version identities) are never kept. Thread-safe; bounded.
/// </summary>
public sealed class UserAccessCache
{
    /// <summary>The most users kept; when full, the cache starts over.</summary>
    public const int Capacity = 4096;

    private readonly ConcurrentDictionary<InstanceHash, UserAccess> _entries = new();

    /// <summary>The entry for <paramref name="user"/> if it was read at <paramref name="version"/> or later.</summary>
    public bool TryGet(InstanceHash user, long version, out UserAccess access)
    {
        if (_entries.TryGetValue(user, out var found) && found.IdentityVersion >= version)
        {
            access = found;
            return true;
        }

        access = null!;
        return false;
    }

    /// <summary>Keeps <paramref name="access"/> unless it has no version or an entry read at a later version is kept.</summary>
    public void Put(InstanceHash user, UserAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.IdentityVersion is null)
        {
            return;
        }

        if (_entries.Count >= Capacity)
        {
            _entries.Clear();
        }

        _entries.AddOrUpdate(user, access, (_, kept) => kept.IdentityVersion >= access.IdentityVersion ? kept : access);
    }
}
