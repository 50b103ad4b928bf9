using System.Text;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

public sealed class QueryCiphertextTests
{
    private static readonly byte[] Blob = CryptoVectors.Ciphertext(CryptoVectors.Case("valid-001"));

    [Fact]
    public void Parse_ReadsBase64_IgnoringLineBreaksAndSurroundingSpace()
    {
        string wrapped = "  " + string.Join("\n", Convert.ToBase64String(Blob).Chunk(76).Select(c => new string(c))) + "\n";

        var result = QueryCiphertext.Parse(wrapped);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(CiphertextForm.Base64, result.Value.Form);
        Assert.Equal(Blob, result.Value.Bytes.ToArray());
    }

    [Fact]
    public void Parse_ReadsABytesLiteral()
    {
        var result = QueryCiphertext.Parse(PythonBytesLiteral.Format(Blob) + "\n");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(CiphertextForm.BytesLiteral, result.Value.Form);
        Assert.Equal(Blob, result.Value.Bytes.ToArray());
    }

    [Theory]
    [InlineData("", "the ciphertext text is empty")]
    [InlineData(" \n", "the ciphertext text is empty")]
    [InlineData("QUJD!", "character '!' at position 4 is not in the base64 alphabet")]
    [InlineData("QUJ", "wrong length or misplaced '=' padding")]
    [InlineData("Q=JD", "wrong length or misplaced '=' padding")]
    [InlineData("{\"data\": 1}", "character '{' at position 0")]
    [InlineData("b'\\x8", "not a valid Python bytes literal: position 5: expected two hex digits")]
    [InlineData("b\"abc", "not a valid Python bytes literal: position 5: unterminated")]
    public void Parse_ExplainsWhatIsWrong(string text, string expected)
    {
        var result = QueryCiphertext.Parse(text);

        Assert.False(result.IsSuccess);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FromInput_TakesBinaryAsTheRawBlob()
    {
        var result = QueryCiphertext.FromInput(Blob);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(CiphertextForm.Raw, result.Value.Form);
        Assert.Equal(Blob, result.Value.Bytes.ToArray());
    }

    [Theory]
    [InlineData(CiphertextForm.Base64, "")]
    [InlineData(CiphertextForm.Base64, "\uFEFF")]
    [InlineData(CiphertextForm.BytesLiteral, "")]
    [InlineData(CiphertextForm.BytesLiteral, "\uFEFF")]
    public void FromInput_ReadsTextFiles(CiphertextForm form, string prefix)
    {
        string text = prefix + (form == CiphertextForm.Base64 ? Convert.ToBase64String(Blob) : PythonBytesLiteral.Format(Blob)) + "\r\n";

        var result = QueryCiphertext.FromInput(Encoding.UTF8.GetBytes(text));

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(form, result.Value.Form);
        Assert.Equal(Blob, result.Value.Bytes.ToArray());
    }

    [Fact]
    public void FromInput_ReportsANonAsciiCharacterInALiteral_RatherThanTakingItAsRaw()
    {
        var result = QueryCiphertext.FromInput(Encoding.UTF8.GetBytes("b'caf\u00e9'"));

        Assert.False(result.IsSuccess);
        Assert.Contains("position 5: non-ASCII character U+00E9", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void TextForms_RoundTrip()
    {
        var blob = QueryCiphertext.FromBytes(Blob);

        Assert.Equal(Blob, QueryCiphertext.Parse(blob.ToBase64()).Value.Bytes.ToArray());
        Assert.Equal(Blob, QueryCiphertext.Parse(blob.ToBytesLiteral()).Value.Bytes.ToArray());
        Assert.Equal(CryptoVectors.Case("valid-001").GetProperty("tdql_qdata_python_repr").GetString(), blob.ToBytesLiteral());
    }
}
