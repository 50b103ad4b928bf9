using System.Text;
using Cybexp.Report.Core.Storage;
using Xunit;

namespace Cybexp.Report.Core.Tests.Storage;

public sealed class PackedDocumentTextTests
{
    private const string H1 = "4497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08";
    private const string H2 = "97acb1c16c70bbead2ea64acc18a56779ccdfbe7c0282262279568c305aedd03";

    [Fact]
    public void Hashes_become_their_bytes_and_repeats_their_number()
    {
        var text = $"{{\"_hash\":\"{H1}\",\"_ref\":[\"{H2}\",\"{H1}\"],\"x\":\"{H2}\"}}";
        var expected = new List<byte> { 0x01 };
        expected.AddRange("{\"_hash\":"u8.ToArray());
        expected.Add(0x01);
        expected.AddRange(Convert.FromHexString(H1));
        expected.AddRange(",\"_ref\":["u8.ToArray());
        expected.Add(0x01);
        expected.AddRange(Convert.FromHexString(H2));
        expected.Add((byte)',');
        expected.AddRange([0x02, 0x00]);
        expected.AddRange("],\"x\":"u8.ToArray());
        expected.AddRange([0x02, 0x01]);
        expected.Add((byte)'}');

        var packed = PackedDocumentText.Pack(text);

        Assert.Equal(expected.ToArray(), packed);
        Assert.Equal(text, PackedDocumentText.Unpack(packed));
    }

    [Theory]
    [InlineData("uppercase hex", "\"4497F32F1511A5F1AA5EF35A9BC2DA5DBE9B2302190AAE31B47F99AF005EEF08\"")]
    [InlineData("63 digits", "\"497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08\"")]
    [InlineData("65 digits", "\"04497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08\"")]
    [InlineData("no closing quote", "\"4497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08")]
    [InlineData("no quotes", "x4497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08x")]
    [InlineData("a letter past f", "\"4497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef0g\"")]
    [InlineData("empty", "")]
    [InlineData("non-ASCII", "{\"name\":\"Zoë 東京\"}")]
    public void Text_without_a_whole_quoted_lowercase_hash_is_kept_as_it_is(string why, string text)
    {
        var packed = PackedDocumentText.Pack(text);

        Assert.True(packed.Length == Encoding.UTF8.GetByteCount(text) + 1, why);
        Assert.Equal(PackedDocumentText.Packed, packed[0]);
        Assert.Equal(Encoding.UTF8.GetBytes(text), packed[1..]);
        Assert.Equal(text, PackedDocumentText.Unpack(packed));
    }

    [Fact]
    public void Matches_are_the_leftmost_and_do_not_overlap()
    {
        // The closing quote of one hash cannot open the next; a quote that fails to open one leaves the next to try.
        var text = $"\"\"{H1}\"{H2}\"";
        var packed = PackedDocumentText.Pack(text);

        Assert.Equal([0x01, (byte)'"', 0x01, .. Convert.FromHexString(H1), .. Encoding.ASCII.GetBytes(H2), (byte)'"'], packed);
        Assert.Equal(text, PackedDocumentText.Unpack(packed));
    }

    [Fact]
    public void A_text_holding_a_mark_byte_is_stored_plain()
    {
        foreach (var mark in new[] { "\u0001", "\u0002" })
        {
            var text = $"[\"{H1}\",\"{mark}\"]";
            var packed = PackedDocumentText.Pack(text);

            Assert.Equal(PackedDocumentText.Plain, packed[0]);
            Assert.Equal(Encoding.UTF8.GetBytes(text), packed[1..]);
            Assert.Equal(text, PackedDocumentText.Unpack(packed));
        }
    }

    [Fact]
    public void Only_the_first_256_distinct_hashes_can_be_repeated()
    {
        var hashes = Enumerable.Range(0, 300).Select(i => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))).ToList();
        var text = "[" + string.Join(",", hashes.Select(h => $"\"{h}\"")) + $",\"{hashes[0]}\",\"{hashes[255]}\",\"{hashes[256]}\",\"{hashes[299]}\"]";

        var packed = PackedDocumentText.Pack(text);

        // 300 hashes in full, two repeats of 2 bytes, two hashes in full again.
        Assert.Equal(1 + 2 + (302 * 33) + (2 * 2) + 303, packed.Length);
        Assert.Equal(text, PackedDocumentText.Unpack(packed));
    }

    [Fact]
    public void Random_texts_round_trip()
    {
        // Texts made of the bytes that matter: quotes, hex digits, other letters, escapes, non-ASCII, with hashes
        // (often repeated) dropped in.
        var random = new Random(20261205);
        string[] pieces = ["\"", "a", "f", "0", "9", "g", "A", "\\\"", ",", "é", "😀", " ", H1, H2, $"\"{H1}\"", $"\"{H2}\"", "[\"", "\"]"];
        for (var n = 0; n < 2000; n++)
        {
            var builder = new StringBuilder();
            var length = random.Next(0, 40);
            for (var i = 0; i < length; i++)
            {
                builder.Append(random.Next(4) == 0
                    ? $"\"{Convert.ToHexStringLower(BitConverter.GetBytes(random.Next(3)).Concat(new byte[28]).ToArray())}\""
                    : pieces[random.Next(pieces.Length)]);
            }

            var text = builder.ToString();
            var packed = PackedDocumentText.Pack(text);
            Assert.True(packed.Length <= PackedDocumentText.MaxPackedLength(Encoding.UTF8.GetByteCount(text)));
            Assert.Equal(text, PackedDocumentText.Unpack(packed));
            Assert.Equal(packed, PackedDocumentText.Pack(PackedDocumentText.Unpack(packed)));
        }
    }

    [Fact]
    public void An_event_is_its_other_bytes_plus_33_per_distinct_hash_and_2_per_repeat()
    {
        var text = "{\"itype\":\"event\",\"orgid\":\"4c5979bae864537d77b25203f54da260cb3b03153fa4b92f4ead505f6a4b7a1a\",\"timestamp\":1618011840.0,\"category\":\"benign\"," +
            "\"data\":{\"url\":[{\"url\":[\"https://zorner.xyz/tusnervex/wp-admin.php\"],\"domain\":[\"zorner.xyz\"]}],\"ipv4\":[\"89.110.243.98\"]}," +
            $"\"_cref\":[\"{H1}\",\"{H2}\"],\"_ref\":[\"{H1}\",\"{H2}\",\"774f0fbd96d5f7a3a104edf4a853d35c1540ac2208f6d56ba492652e78e5f9d7\"],\"_ben_ref\":[\"{H2}\"],\"_mal_ref\":[]," +
            "\"sub_type\":\"web_visit\",\"_hash\":\"001754ca245fd9c2fb745e223a8b0df95877c93695217031b6339f5d9a864759\"}";

        var packed = PackedDocumentText.Pack(text);

        // Eight quoted hashes, five distinct: 803 bytes of text, 447 packed.
        Assert.Equal(text.Length - (8 * 66) + (5 * 33) + (3 * 2) + 1, packed.Length);
        Assert.Equal(text, PackedDocumentText.Unpack(packed));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("07", "starts with byte 0x07")]
    [InlineData("010122", "ends inside a hash")]
    [InlineData("010200", "repeats a hash it does not hold")]
    [InlineData("0102", "repeats a hash it does not hold")]
    [InlineData("00ff", "not UTF-8")]
    public void Damaged_bytes_are_refused_with_what_is_wrong(string hex, string message)
    {
        var e = Assert.Throws<FormatException>(() => PackedDocumentText.Unpack(Convert.FromHexString(hex)));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_destination_too_small_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => PackedDocumentText.Pack("abc"u8, new byte[3]));

        Assert.Contains("needs 4", e.Message, StringComparison.Ordinal);
    }
}
