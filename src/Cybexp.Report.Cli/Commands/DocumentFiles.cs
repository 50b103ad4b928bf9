using System.Text;

namespace Cybexp.Report.Cli.Commands;

/// <summary>How the commands that read TAHOE document files open them and describe failures to open them.</summary>
internal static class DocumentFiles
{
    /// <summary>Opens <paramref name="path"/> as strict UTF-8 text (a byte-order mark is allowed), for sequential reading.</summary>
    public static StreamReader Open(string path) =>
        new(
            path,
            new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true),
            detectEncodingFromByteOrderMarks: true,
            new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan, BufferSize = 64 * 1024 });

    /// <summary>A short reason for a failure to open or decode a file.</summary>
    public static string Describe(Exception e) => e switch
    {
        FileNotFoundException => "no such file",
        DirectoryNotFoundException => "no such directory",
        UnauthorizedAccessException => "permission denied",
        DecoderFallbackException => "not valid UTF-8",
        _ => e.Message,
    };
}
