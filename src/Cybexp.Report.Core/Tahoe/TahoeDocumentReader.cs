using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// One document read from a source, or why the text starting at <see cref="Line"/> is not one. Exactly one of
/// <see cref="Document"/> and <see cref="Error"/> is set.
/// </summary>
/// <param name="Line">1-based line where the document (or the broken text) starts.</param>
/// <param name="Document">The document, with a MongoDB <c>_id</c> removed and Extended JSON numbers unwrapped.</param>
/// <param name="Error">What is wrong, starting with <c>line N:</c>.</param>
public sealed record TahoeDocumentRecord(long Line, TahoeDict? Document, string? Error)
{
    /// <summary>
    /// The document's stored text (<see cref="TahoeJsonWriter.Write"/> of <see cref="Document"/>) packed
    /// (<see cref="Storage.PackedDocumentText"/>), when the reader found the source text already in that form and kept it
    /// instead of writing it again; null otherwise.
    /// </summary>
    internal byte[]? StoredPacked { get; init; }

    /// <summary>
    /// True when the reader could not find where the next document starts and stopped reading this source: the
    /// error is about the source, not one document, and documents after it may be missing.
    /// </summary>
    public bool EndsSource { get; init; }
}

/// <summary>
/// One document as <see cref="TahoeDocumentReader.ReadTextsAsync(TextReader, CancellationToken)"/> cut it out of its
/// source: its text, parsed on demand by <see cref="Parse"/> (on any thread), or a failure found while cutting it out.
/// </summary>
public sealed class TahoeDocumentText
{
    private readonly long _column;
    private readonly int _length;

    // The text, in an array rented from the reader's buffers (given back once the text is parsed).
    private readonly TextBuffers? _buffers;
    private char[]? _chars;
    private TahoeDocumentRecord? _record;

    internal TahoeDocumentText(TahoeDocumentRecord failure)
    {
        Line = failure.Line;
        _record = failure;
    }

    internal TahoeDocumentText(long line, long column, char[] chars, int length, TextBuffers buffers)
    {
        Line = line;
        _column = column;
        _chars = chars;
        _length = length;
        _buffers = buffers;
    }

    /// <summary>1-based line where the document (or the broken text) starts.</summary>
    public long Line { get; }

    /// <summary>The error found while cutting the text out (before parsing), or null.</summary>
    public string? Error => _record?.Error;

    /// <summary>True when the reader stopped reading this source here (see <see cref="TahoeDocumentRecord.EndsSource"/>).</summary>
    public bool EndsSource => _record?.EndsSource ?? false;

    /// <summary>
    /// The document, or why the text is not one (the same record <c>ReadAsync</c> yields). Parses once; not to be
    /// called from two threads at the same time.
    /// </summary>
    public TahoeDocumentRecord Parse()
    {
        if (_record is null)
        {
            var chars = _chars!;
            _record = TahoeDocumentReader.ParseDocument(chars.AsSpan(0, _length), Line, _column);
            _chars = null;
            _buffers!.Return(chars);
        }

        return _record;
    }
}

/// <summary>
/// The buffers that one reader's texts are cut into, given back by <see cref="TahoeDocumentText.Parse"/> on any
/// thread. Buffers of <see cref="Size"/> characters (most documents fit) are kept here for the next texts, up to
/// <see cref="MaxKept"/> of them; larger ones come from the shared array pool. The shared pool alone is not enough: it
/// keeps only a few dozen arrays of a size per core, so when ingest parses a chunk of hundreds of texts on other
/// threads it would drop most of the buffers given back, and the reader would allocate new ones.
/// </summary>
internal sealed class TextBuffers
{
    /// <summary>Characters in a kept buffer (a power of two, so a buffer of this size from the shared pool fits too).</summary>
    public const int Size = 2048;

    /// <summary>At most this many buffers are kept (16 MiB); more than ingest holds ahead of its writer.</summary>
    public const int MaxKept = 4096;

    private readonly Lock _gate = new();
    private readonly char[][] _kept = new char[MaxKept][];
    private int _count;

    /// <summary>A buffer of at least <paramref name="length"/> characters.</summary>
    public char[] Rent(int length)
    {
        if (length > Size)
        {
            return ArrayPool<char>.Shared.Rent(length);
        }

        lock (_gate)
        {
            if (_count > 0)
            {
                var buffer = _kept[--_count];
                _kept[_count] = null!;
                return buffer;
            }
        }

        return new char[Size];
    }

    /// <summary>Gives back a buffer from <see cref="Rent"/>; it must not be used afterwards.</summary>
    public void Return(char[] buffer)
    {
        if (buffer.Length != Size)
        {
            ArrayPool<char>.Shared.Return(buffer);
            return;
        }

        lock (_gate)
        {
            if (_count < MaxKept)
            {
                _kept[_count++] = buffer;
            }
        }
    }
}

/// <summary>
/// Streams TAHOE documents out of text that holds one JSON document, newline-delimited JSON, one or more JSON arrays
/// of documents, concatenated (pretty-printed) documents, or MongoDB Extended JSON as <c>mongoexport</c> writes it.
/// Memory does not grow with the size of the source: the text is scanned in chunks and only one document's text is
/// held at a time.
/// </summary>
/// <remarks>
/// <para>Rules:</para>
/// <list type="bullet">
/// <item>A <c>[</c> at the top level opens an array whose elements are documents; a <c>{</c> starts one document;
/// anything else at the top level is read to the end of its line and reported as not being a document.</item>
/// <item>Every document is parsed with <see cref="PythonJson"/> rejecting duplicate keys; a top-level <c>_id</c>
/// is dropped and <c>$numberLong</c>/<c>$numberInt</c>/<c>$numberDouble</c> wrappers are unwrapped
/// (<see cref="MongoExtendedJson"/>).</item>
/// <item>A <c>{</c> in the first column of a line always starts a new top-level document: if the previous one is
/// still open it is reported as truncated. Pretty-printed input must therefore indent nested lines (as
/// <c>json.dumps(indent=N)</c> with N &gt; 0 and <c>mongoexport --pretty</c> do).</item>
/// <item>A top-level document with a line break inside a string or a mismatched bracket is reported, and reading
/// resumes at the next line whose first non-blank character is <c>{</c>.</item>
/// <item>Inside an array, each element that is cut out cleanly but is not a valid document is reported and reading
/// goes on with the next element; a line break inside a string, a mismatched bracket, or an array that is never
/// closed ends the source (<see cref="TahoeDocumentRecord.EndsSource"/>).</item>
/// <item>A document longer than the character limit is reported and skipped.</item>
/// </list>
/// </remarks>
public static partial class TahoeDocumentReader
{
    /// <summary>The default limit on one document's text, in characters (64 Mi).</summary>
    public const int DefaultMaxDocumentChars = 64 * 1024 * 1024;

    private const int ChunkChars = 16 * 1024;

    /// <summary>Reads every document of <paramref name="reader"/>, which the caller opened and disposes.</summary>
    public static IAsyncEnumerable<TahoeDocumentRecord> ReadAsync(TextReader reader, CancellationToken cancellationToken = default) =>
        ReadAsync(reader, DefaultMaxDocumentChars, cancellationToken);

    /// <summary>Reads every document of <paramref name="reader"/>; documents longer than <paramref name="maxDocumentChars"/> are reported.</summary>
    public static async IAsyncEnumerable<TahoeDocumentRecord> ReadAsync(TextReader reader, int maxDocumentChars, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var text in ReadTextsAsync(reader, maxDocumentChars, cancellationToken).ConfigureAwait(false))
        {
            yield return text.Parse();
        }
    }

    /// <summary>
    /// Cuts every document of <paramref name="reader"/> out of the source without parsing it, so that callers can
    /// parse documents on several threads (<see cref="TahoeDocumentText.Parse"/>); the same rules and errors as
    /// <see cref="ReadAsync(TextReader, CancellationToken)"/>.
    /// </summary>
    public static IAsyncEnumerable<TahoeDocumentText> ReadTextsAsync(TextReader reader, CancellationToken cancellationToken = default) =>
        ReadTextsAsync(reader, DefaultMaxDocumentChars, cancellationToken);

    /// <summary>As <see cref="ReadTextsAsync(TextReader, CancellationToken)"/> with a limit on one document's text.</summary>
    public static IAsyncEnumerable<TahoeDocumentText> ReadTextsAsync(TextReader reader, int maxDocumentChars, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDocumentChars, 1);
        return ReadCoreAsync(reader, maxDocumentChars, cancellationToken);
    }

    private static async IAsyncEnumerable<TahoeDocumentText> ReadCoreAsync(
        TextReader reader, int maxDocumentChars, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var scanner = new Scanner(maxDocumentChars);
        var buffer = new char[ChunkChars];
        var ready = new Output();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = await reader.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                scanner.Finish(ready);
            }
            else
            {
                scanner.Feed(buffer.AsSpan(0, n), ready);
            }

            foreach (var text in ready)
            {
                yield return text;
            }

            ready.Clear();
            if (n == 0 || scanner.Stopped)
            {
                yield break;
            }
        }
    }

    /// <summary>Parses a document text cut out at (<paramref name="line"/>, <paramref name="column"/>).</summary>
    internal static TahoeDocumentRecord ParseDocument(ReadOnlySpan<char> text, long line, long column) => Scanner.ParseDocument(text, line, column);

    /// <summary>What the scanner cut out: texts to parse, and failures as records.</summary>
    private sealed class Output : List<TahoeDocumentText>
    {
        public void Add(TahoeDocumentRecord failure) => Add(new TahoeDocumentText(failure));
    }

    /// <summary>
    /// A character-level state machine: it tracks string/escape state and bracket nesting to find where each
    /// top-level value (or array element) ends, and hands that text to <see cref="PythonJson"/>.
    /// </summary>
    private sealed partial class Scanner(int maxChars)
    {
        // Bracket kinds are remembered this deep; deeper nesting is only counted (PythonJson rejects it anyway).
        private const int MaxTrackedDepth = 1024;

        // A buffer that once held a huge text is given back rather than kept at that capacity.
        private const int KeepCapacity = 1 << 20;

        private readonly TextBuffers _buffers = new();

        // Characters that change the scanner's state inside a string, and outside one.
        private static readonly SearchValues<char> StringStops = SearchValues.Create("\"\\\n");
        private static readonly SearchValues<char> ValueStops = SearchValues.Create("\"{}[],\n");
        private static readonly SearchValues<char> Blanks = SearchValues.Create(" \t\r\n");

        private readonly char[] _open = new char[MaxTrackedDepth];
        // The text of the value being cut out: _chars[.._length], rented from the shared pool. Each complete text
        // takes its buffer along (Complete) and the next one starts in a new buffer, so texts are never copied.
        private char[] _chars = [];
        private int _length;
        private Mode _mode = Mode.TopLevel;
        private long _line = 1;
        private long _col; // 0-based column of the character being scanned
        private bool _lineBlank = true; // nothing but blanks before the current character on its line
        private long _startLine;
        private long _startCol;
        private bool _overflow;
        private int _depth;
        private bool _inString;
        private bool _escape;
        private long _arrayLine;
        private bool _afterComma;

        private enum Mode
        {
            TopLevel,
            Document, // a top-level {...}
            ArrayGap, // inside an array of documents, before an element
            Element, // an element of an array of documents
            ScalarLine, // a top-level value that is not an object or array: read to the end of the line
            Skip, // after a broken document: wait for a line that starts with '{'
            Stopped,
        }

        private enum Step
        {
            Continue,
            Closed,
            Broken,
        }

        public bool Stopped => _mode == Mode.Stopped;

        public void Feed(ReadOnlySpan<char> chunk, Output output)
        {
            var i = 0;
            while (i < chunk.Length)
            {
                if (_mode == Mode.Stopped)
                {
                    return;
                }

                if (_mode is Mode.Document or Mode.Element && !_escape)
                {
                    // Fast path: copy a run of characters that change no state (most of a document's text).
                    var rest = chunk[i..];
                    var run = _inString ? rest.IndexOfAny(StringStops) : rest.IndexOfAny(ValueStops);
                    if (run < 0)
                    {
                        run = rest.Length;
                    }

                    if (run > 0)
                    {
                        var span = rest[..run];
                        AppendRun(span);
                        if (_lineBlank && span.ContainsAnyExcept(Blanks))
                        {
                            _lineBlank = false;
                        }

                        _col += run;
                        i += run;
                        continue;
                    }
                }

                var c = chunk[i++];
                Consume(c, output);
                if (c == '\n')
                {
                    _line++;
                    _col = 0;
                    _lineBlank = true;
                }
                else
                {
                    _col++;
                    if (!IsBlank(c))
                    {
                        _lineBlank = false;
                    }
                }
            }
        }

        public void Finish(Output output)
        {
            switch (_mode)
            {
                case Mode.Document:
                    output.Add(Failure(_overflow ? TooLong() : "the document is truncated (the input ends before it is closed)"));
                    break;
                case Mode.ScalarLine:
                    output.Add(Complete());
                    break;
                case Mode.Element:
                case Mode.ArrayGap:
                    var at = _mode == Mode.Element ? _startLine : _line;
                    output.Add(new TahoeDocumentRecord(
                        at,
                        null,
                        $"line {at}: the input ends inside the JSON array opened at line {_arrayLine} (truncated)")
                    { EndsSource = true });
                    break;
            }

            ResetText();
            _mode = Mode.Stopped;
        }

        private static bool IsBlank(char c) => c is ' ' or '\t' or '\r' or '\n';

        private void Consume(char c, Output output)
        {
            switch (_mode)
            {
                case Mode.TopLevel:
                    if (IsBlank(c) || (c == '\uFEFF' && _line == 1 && _col == 0))
                    {
                        return;
                    }

                    if (c == '[')
                    {
                        _mode = Mode.ArrayGap;
                        _arrayLine = _line;
                        _afterComma = false;
                        return;
                    }

                    Begin(c == '{' ? Mode.Document : Mode.ScalarLine);
                    Take(c);
                    return;

                case Mode.Document:
                    if (c == '{' && _col == 0)
                    {
                        // A '{' in the first column starts the next document, so the open one was cut short.
                        output.Add(Failure(_overflow
                            ? TooLong()
                            : $"the document is truncated (a new document starts at line {_line} before this one is closed)"));
                        Begin(Mode.Document);
                        Take(c);
                        return;
                    }

                    switch (Take(c))
                    {
                        case Step.Closed:
                            output.Add(Complete());
                            ResetText();
                            _mode = Mode.TopLevel;
                            break;
                        case Step.Broken:
                            output.Add(Failure(Broken(c)));
                            ResetText();
                            _mode = Mode.Skip;
                            break;
                    }

                    return;

                case Mode.ScalarLine:
                    if (c == '\n')
                    {
                        output.Add(Complete());
                        ResetText();
                        _mode = Mode.TopLevel;
                        return;
                    }

                    Append(c);
                    return;

                case Mode.Skip:
                    if (c == '{' && _lineBlank)
                    {
                        Begin(Mode.Document);
                        Take(c);
                    }

                    return;

                case Mode.ArrayGap:
                    if (IsBlank(c))
                    {
                        return;
                    }

                    if (c == ']')
                    {
                        if (_afterComma)
                        {
                            output.Add(new TahoeDocumentRecord(_line, null, $"line {_line}: invalid JSON at column {_col + 1}: expected a document after ',' in the array"));
                        }

                        _mode = Mode.TopLevel;
                        return;
                    }

                    if (c == ',')
                    {
                        output.Add(new TahoeDocumentRecord(_line, null, $"line {_line}: invalid JSON at column {_col + 1}: expected a document in the array, found ','"));
                        _afterComma = true;
                        return;
                    }

                    Begin(Mode.Element);
                    Take(c);
                    return;

                case Mode.Element:
                    if (!_inString && _depth == 0 && c is ',' or ']')
                    {
                        output.Add(Complete());
                        ResetText();
                        _mode = c == ',' ? Mode.ArrayGap : Mode.TopLevel;
                        _afterComma = c == ',';
                        return;
                    }

                    if (Take(c) == Step.Broken)
                    {
                        // Inside an array there is no safe place to resume: a later ',' may belong to anything.
                        output.Add(Failure(Broken(c) + $"; the rest of the JSON array opened at line {_arrayLine} cannot be read") with { EndsSource = true });
                        ResetText();
                        _mode = Mode.Stopped;
                    }

                    return;
            }
        }

        private void Begin(Mode mode)
        {
            ResetText();
            _mode = mode;
            _startLine = _line;
            _startCol = _col;
        }

        private void ResetText()
        {
            if (_chars.Length > KeepCapacity)
            {
                _buffers.Return(_chars);
                _chars = [];
            }

            _length = 0;

            _overflow = false;
            _depth = 0;
            _inString = false;
            _escape = false;
        }

        private void AppendRun(ReadOnlySpan<char> run)
        {
            var room = maxChars - _length;
            if (run.Length > room)
            {
                run = run[..room];
                _overflow = true;
            }

            if (_chars.Length - _length < run.Length)
            {
                Grow(run.Length);
            }

            run.CopyTo(_chars.AsSpan(_length));
            _length += run.Length;
        }

        private void Append(char c)
        {
            if (_length < maxChars)
            {
                if (_length == _chars.Length)
                {
                    Grow(1);
                }

                _chars[_length++] = c;
            }
            else
            {
                _overflow = true;
            }
        }

        /// <summary>Appends <paramref name="c"/> and follows strings and brackets.</summary>
        private Step Take(char c)
        {
            Append(c);
            if (_inString)
            {
                if (_escape)
                {
                    _escape = false;
                }
                else if (c == '\\')
                {
                    _escape = true;
                }
                else if (c == '"')
                {
                    _inString = false;
                }
                else if (c == '\n')
                {
                    return Step.Broken; // JSON strings cannot hold a raw line break: the line was cut short
                }

                return Step.Continue;
            }

            switch (c)
            {
                case '"':
                    _inString = true;
                    return Step.Continue;
                case '{' or '[':
                    if (_depth < MaxTrackedDepth)
                    {
                        _open[_depth] = c;
                    }

                    _depth++;
                    return Step.Continue;
                case '}' or ']':
                    if (_depth == 0 || (_depth <= MaxTrackedDepth && _open[_depth - 1] != (c == '}' ? '{' : '[')))
                    {
                        return Step.Broken;
                    }

                    _depth--;
                    return _depth == 0 ? Step.Closed : Step.Continue;
                default:
                    return Step.Continue;
            }
        }

        /// <summary>Explains why the text taken so far cannot be a document; <paramref name="last"/> broke it.</summary>
        private string Broken(char last)
        {
            if (_overflow)
            {
                return TooLong();
            }

            if (last == '\n')
            {
                return $"line {_line}: invalid JSON at column {_col + 1}: the line ends inside a string (truncated document?)";
            }

            // The parser names the first syntax error in the text, which ends at the bad bracket.
            return PythonJson.TryParse(_chars.AsSpan(0, _length), DuplicateKeys.Reject, out _, out var error)
                ? $"line {_line}: invalid JSON at column {_col + 1}: unexpected '{last}'"
                : Relocate(error);
        }

        private string TooLong() => $"the document is longer than {maxChars.ToString(CultureInfo.InvariantCulture)} characters; skipped";

        private TahoeDocumentRecord Failure(string error) =>
            new(_startLine, null, error.StartsWith("line ", StringComparison.Ordinal) ? error : $"line {_startLine}: {error}");

        /// <summary>One complete value's text, to be parsed by <see cref="TahoeDocumentText.Parse"/>.</summary>
        private TahoeDocumentText Complete()
        {
            if (_overflow)
            {
                return new TahoeDocumentText(Failure(TooLong()));
            }

            var text = new TahoeDocumentText(_startLine, _startCol, _chars, _length, _buffers);
            _chars = [];
            _length = 0;
            return text;
        }

        private void Grow(int more)
        {
            var needed = Math.Min((long)maxChars, (long)_length + more);
            var capacity = (int)Math.Min(maxChars, Math.Max(needed, Math.Max(TextBuffers.Size, (long)_chars.Length * 2)));
            var grown = _buffers.Rent(capacity);
            _chars.AsSpan(0, _length).CopyTo(grown);
            if (_chars.Length > 0)
            {
                _buffers.Return(_chars);
            }

            _chars = grown;
        }

        /// <summary>Parses one complete value's text into a document, or explains why it is not one.</summary>
        internal static TahoeDocumentRecord ParseDocument(ReadOnlySpan<char> text, long startLine, long startCol)
        {
            if (!PythonJson.TryParse(text, DuplicateKeys.Reject, out var value, out var error, out var verbatim))
            {
                return Fail(Relocate(error, startLine, startCol));
            }

            if (value is not TahoeDict doc)
            {
                return Fail($"a document must be a JSON object, got {Describe(value)}");
            }

            // In stored form the document is '{' followed by `tail`: the text after its opening brace, and after a
            // leading `"_id":…,` member (mongoexport writes _id first), which is not stored.
            var tail = text[1..];
            if (doc.ContainsKey("_id"))
            {
                verbatim = verbatim && TrySkipLeadingId(text, doc, out tail);
                doc = doc.Without("_id");
            }

            if (text.IndexOf("$number", StringComparison.Ordinal) >= 0)
            {
                verbatim = false;
                try
                {
                    doc = (TahoeDict)MongoExtendedJson.Normalize(doc);
                }
                catch (FormatException e)
                {
                    return Fail(e.Message);
                }
            }

            return new TahoeDocumentRecord(startLine, doc, null) { StoredPacked = verbatim ? StoredPackedOf(tail) : null };

            TahoeDocumentRecord Fail(string e) =>
                new(startLine, null, e.StartsWith("line ", StringComparison.Ordinal) ? e : $"line {startLine}: {e}");
        }

        // `text` is a document in stored form whose first member is "_id": `tail` is what follows that member and
        // its comma (or the closing brace when it is the only member). False when _id is not the first member.
        private static bool TrySkipLeadingId(ReadOnlySpan<char> text, TahoeDict doc, out ReadOnlySpan<char> tail)
        {
            const string Lead = "{\"_id\":";
            tail = default;
            if (!text.StartsWith(Lead, StringComparison.Ordinal) || doc.Entries[0].Key != "_id")
            {
                return false;
            }

            // The text is in stored form, so the member's value is spelled as the writer spells it.
            var end = Lead.Length + TahoeJsonWriter.Write(doc.Entries[0].Value).Length;
            if (end >= text.Length || text[end] is not (',' or '}'))
            {
                return false;
            }

            tail = text[(text[end] == ',' ? end + 1 : end)..];
            return true;
        }

        // '{' and `tail` as UTF-8 (`tail` holds no surrogate: the text is in stored form), packed.
        private static byte[] StoredPackedOf(ReadOnlySpan<char> tail)
        {
            var length = 1 + Encoding.UTF8.GetByteCount(tail);
            var utf8 = ArrayPool<byte>.Shared.Rent(length);
            var packed = ArrayPool<byte>.Shared.Rent(Storage.PackedDocumentText.MaxPackedLength(length));
            try
            {
                utf8[0] = (byte)'{';
                Encoding.UTF8.GetBytes(tail, utf8.AsSpan(1));
                return packed.AsSpan(0, Storage.PackedDocumentText.Pack(utf8.AsSpan(0, length), packed)).ToArray();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(packed);
                ArrayPool<byte>.Shared.Return(utf8);
            }
        }

        private string Relocate(string parserError) => Relocate(parserError, _startLine, _startCol);

        /// <summary>Turns the parser's position within the cut-out text into a position within the source.</summary>
        private static string Relocate(string parserError, long startLine, long startCol)
        {
            var m = ParserPosition().Match(parserError);
            if (!m.Success)
            {
                return parserError;
            }

            var relLine = long.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            var relCol = long.Parse(m.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
            var line = startLine + relLine - 1;
            var col = relLine == 1 ? startCol + relCol : relCol;
            return $"line {line}: invalid JSON at column {col}: {m.Groups[3].Value}";
        }

        private static string Describe(TahoeValue value) => value.Kind switch
        {
            TahoeKind.Null => "null",
            TahoeKind.Bool => "a bool",
            TahoeKind.Int => "an int",
            TahoeKind.Float => "a float",
            TahoeKind.String => "a string",
            TahoeKind.List => "a list",
            _ => "a dict",
        };

        [GeneratedRegex(@"^invalid JSON at line (\d+) column (\d+): (.*)$", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
        private static partial Regex ParserPosition();
    }
}

/// <summary>Documents already in memory as reader records (for ingesting generated data without a file).</summary>
public static class TahoeDocumentRecords
{
    /// <summary>One record per document, numbered from line 1.</summary>
    public static async IAsyncEnumerable<TahoeDocumentRecord> From(IEnumerable<TahoeDict> documents)
    {
        long line = 0;
        foreach (var d in documents)
        {
            yield return new TahoeDocumentRecord(++line, d, null);
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
