using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class PythonTextTests
{
    [Theory]
    [InlineData(100.0, "100.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(0.0, "0.0")]
    [InlineData(1236092478.0, "1236092478.0")]
    [InlineData(1.2345678901234568e+17, "1.2345678901234568e+17")]
    [InlineData(123456789.123456789, "123456789.12345679")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e300, "1e+300")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1627580000.53, "1627580000.53")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void FloatRepr_MatchesPython(double value, string expected) => Assert.Equal(expected, PythonText.FloatRepr(value));

    [Theory]
    [InlineData("\u001c x \u001f", "x")]
    [InlineData("\u00a0\u2000x\u3000", "x")]
    [InlineData("\u200bx", "\u200bx")]
    [InlineData("   ", "")]
    public void Strip_UsesPythonWhitespace(string input, string expected) => Assert.Equal(expected, PythonText.Strip(input));

    [Fact]
    public void JsonString_EscapesLikeEnsureAscii()
    {
        Assert.Equal("\"\\ud83d\\ude00 caf\\u00e9 \\u007f \\\"q\\\" \\\\ \\n\\b\\f\\u0001\"", PythonText.JsonString("\U0001F600 café \u007f \"q\" \\ \n\b\f\u0001"));
    }
}
