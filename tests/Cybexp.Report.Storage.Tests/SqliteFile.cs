using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>Reads a SQLite store's file directly, on a connection of its own (not pooled), for tests that look inside.</summary>
internal static class SqliteFile
{
    public static SqliteConnection Open(string path)
    {
        var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        conn.Open();
        return conn;
    }

    /// <summary>The first column of the first row of <paramref name="sql"/>, as a number.</summary>
    public static long Scalar(string path, string sql)
    {
        using var conn = Open(path);
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Every row of <paramref name="sql"/>, its values joined by '|'.</summary>
    public static List<string> Rows(string path, string sql)
    {
        using var conn = Open(path);
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var result = new List<string>();
        while (r.Read())
        {
            var values = new object[r.FieldCount];
            r.GetValues(values);
            result.Add(string.Join('|', values.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
        }

        return result;
    }
}
