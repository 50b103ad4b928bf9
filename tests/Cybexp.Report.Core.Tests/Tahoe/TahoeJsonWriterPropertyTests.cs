using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// <see cref="TahoeJsonWriter"/> against <see cref="ReferenceTahoeJsonWriter"/> (the implementation it replaced) on
/// random values with every kind of string (controls, DEL, U+2028/2029, non-ASCII, surrogate pairs, lone surrogates),
/// big ints and every float: the same text, and text that reads back to the same value.
/// </summary>
public class TahoeJsonWriterPropertyTests
{
    [Fact]
    public void Write_MatchesReference_AndReadsBack()
    {
        Gen.Int.Sample(seed =>
        {
            var text = PythonJsonPropertyTests.RandomJson.Document(new Random(seed), newlines: true);
            if (!PythonJson.TryParse(text, DuplicateKeys.LastWins, out var value, out _))
            {
                return true;
            }

            var written = TahoeJsonWriter.Write(value);
            var back = MongoExtendedJson.Normalize(PythonJson.Parse(written, DuplicateKeys.Reject));
            return written == ReferenceTahoeJsonWriter.Write(value) && back.Equals(value);
        }, iter: 4000);
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("\ud800")]
    [InlineData("x\udc00")]
    [InlineData("\ud83d\ude00\ud83d")]
    [InlineData("\u2028\u2029\u007f\u0000\u001f\b\f\n\r\t\"\\/")]
    [InlineData("a long run of plain text before a quote \" and after it, then a lone \udfff at the end")]
    public void AppendString_MatchesReference(string s)
    {
        Assert.Equal(ReferenceTahoeJsonWriter.Write(TahoeValue.String(s)), TahoeJsonWriter.Write(TahoeValue.String(s)));
    }
}
