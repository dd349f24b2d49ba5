// JSON string escaping on arbitrary bytes (invalid UTF-8 becomes U+FFFD) and base64.
#include "output/json.hpp"
#include "json_check.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace parmap;
using parmap::test::b64_decode;
using parmap::test::json_unescape;
using parmap::test::utf8_ok;

namespace {

const std::string k_fffd = "\xEF\xBF\xBD";

struct Escaped {
  std::string text;
  bool valid;
};

/// Escapes `bytes` fed in pieces cut at `cuts` (ascending positions).
Escaped escape(std::string_view bytes, const std::vector<std::size_t>& cuts = {})
{
  JsonEscaper esc;
  std::string out;
  test::feed_in_pieces(bytes, cuts, [&](std::string_view piece) { esc.feed(piece, out); });
  esc.finish(out);
  return {out, esc.valid()};
}

std::string b64(std::string_view bytes, const std::vector<std::size_t>& cuts = {})
{
  Base64Encoder enc;
  std::string out;
  test::feed_in_pieces(bytes, cuts, [&](std::string_view piece) { enc.feed(piece, out); });
  enc.finish(out);
  return out;
}

std::string repeat(const std::string& s, int n)
{
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

} // namespace

TEST_CASE("json: ASCII escaping")
{
  SUBCASE("every control character, quote, backslash and DEL")
  {
    for (int c = 0; c < 0x20; ++c) {
      CAPTURE(c);
      std::string expected;
      switch (c) {
      case '\b': expected = "\\b"; break;
      case '\t': expected = "\\t"; break;
      case '\n': expected = "\\n"; break;
      case '\f': expected = "\\f"; break;
      case '\r': expected = "\\r"; break;
      default: {
        static const char hex[] = "0123456789abcdef";
        expected = std::string("\\u00") + hex[c >> 4] + hex[c & 15];
      }
      }
      auto e = escape(std::string(1, static_cast<char>(c)));
      CHECK(e.text == expected);
      CHECK(e.valid);
      CHECK(json_unescape(e.text) == std::string(1, static_cast<char>(c)));
    }
    CHECK(escape("\x7f").text == "\\u007f");
    CHECK(escape("\"").text == "\\\"");
    CHECK(escape("\\").text == "\\\\");
    CHECK(escape(std::string("a\0b", 3)).text == "a\\u0000b");
  }
  SUBCASE("printable ASCII passes through")
  {
    std::string printable;
    for (int c = 0x20; c < 0x7f; ++c) {
      if (c != '"' && c != '\\') {
        printable.push_back(static_cast<char>(c));
      }
    }
    auto e = escape(printable);
    CHECK(e.text == printable);
    CHECK(e.valid);
  }
  SUBCASE("a mixed line")
  {
    auto e = escape("say \"hi\"\t\\ path/to\x01\r\n");
    CHECK(e.text == "say \\\"hi\\\"\\t\\\\ path/to\\u0001\\r\\n");
    CHECK(e.valid);
  }
  SUBCASE("append_json_string adds the quotes")
  {
    std::string out = "x:";
    append_json_string(out, "a\"b\n");
    CHECK(out == "x:\"a\\\"b\\n\"");
    out.clear();
    append_json_string(out, "");
    CHECK(out == "\"\"");
    out.clear();
    append_json_string(out, "\xff");
    CHECK(out == "\"" + k_fffd + "\"");
  }
}

TEST_CASE("json: valid UTF-8 passes through")
{
  const std::vector<std::string> samples = {
      "\xC2\x80",             // U+0080, smallest 2-byte
      "\xC3\xA9",             // é
      "\xDF\xBF",             // U+07FF
      "\xE0\xA0\x80",         // U+0800, smallest 3-byte
      "\xE2\x82\xAC",         // €
      "\xED\x9F\xBF",         // U+D7FF, below the surrogates
      "\xEE\x80\x80",         // U+E000, above the surrogates
      "\xEF\xBF\xBD",         // U+FFFD itself
      "\xEF\xBF\xBF",         // U+FFFF
      "\xF0\x90\x80\x80",     // U+10000, smallest 4-byte
      "\xF0\x9F\x98\x80",     // emoji
      "\xF4\x8F\xBF\xBF",     // U+10FFFF, the largest
      "na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC\xF0\x9D\x84\x9E \"q\"\n",
  };
  for (const auto& s : samples) {
    CAPTURE(s);
    CHECK(is_valid_utf8(s));
    CHECK(utf8_ok(s));
    auto whole = escape(s);
    CHECK(whole.valid);
    CHECK(json_unescape(whole.text) == s);
    // Split at every position (and at every pair of positions): the same text.
    for (std::size_t a = 0; a <= s.size(); ++a) {
      CHECK(escape(s, {a}).text == whole.text);
      CHECK(escape(s, {a}).valid);
      for (std::size_t b = a; b <= s.size() && s.size() <= 8; ++b) {
        CHECK(escape(s, {a, b}).text == whole.text);
      }
    }
  }
  // Byte by byte.
  std::string all;
  for (const auto& s : samples) {
    all += s;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < all.size(); ++i) {
    every.push_back(i);
  }
  auto bytewise = escape(all, every);
  CHECK(bytewise.valid);
  CHECK(json_unescape(bytewise.text) == all);
}

TEST_CASE("json: invalid UTF-8 becomes U+FFFD")
{
  struct Case {
    const char* what;
    std::string bytes;
    std::string text; ///< expected escaped text
  };
  const std::string R = k_fffd;
  const std::vector<Case> cases = {
      {"lone continuation", "\x80", R},
      {"lone continuation inside text", "a\x80z", "a" + R + "z"},
      {"two continuations", "\xBF\x80", R + R},
      {"invalid lead bytes", "\xC0\xC1\xF5\xF8\xFE\xFF", R + R + R + R + R + R},
      {"overlong 2-byte NUL", "\xC0\x80", R + R},
      {"overlong 2-byte", "\xC1\xBF", R + R},
      {"overlong 3-byte", "\xE0\x80\xAF", R + R + R},
      {"overlong 3-byte at the edge", "\xE0\x9F\xBF", R + R + R},
      {"overlong 4-byte", "\xF0\x80\x80\xAF", R + R + R + R},
      {"overlong 4-byte at the edge", "\xF0\x8F\xBF\xBF", R + R + R + R},
      {"high surrogate", "\xED\xA0\x80", R + R + R},
      {"low surrogate", "\xED\xBF\xBF", R + R + R},
      {"surrogate pair in CESU-8", "\xED\xA0\xBD\xED\xB8\x80", R + R + R + R + R + R},
      {"above U+10FFFF", "\xF4\x90\x80\x80", R + R + R + R},
      {"lead F5", "\xF5\x80\x80\x80", R + R + R + R},
      {"truncated 2-byte at the end", "ab\xC3", "ab" + R},
      {"truncated 3-byte at the end", "\xE2\x82", R},
      {"truncated 4-byte at the end", "x\xF0\x9F\x98", "x" + R},
      {"truncated then ASCII", "\xE2\x82z", R + "z"},
      {"truncated then a quote", "\xC3\"", R + "\\\""},
      {"truncated then a newline", "\xF0\x9F\n", R + "\\n"},
      {"truncated then a valid sequence", "\xE2\x82\xE2\x82\xAC", R + "\xE2\x82\xAC"},
      {"lead after lead", "\xC3\xC3\xA9", R + "\xC3\xA9"},
      {"too many continuations", "\xC3\xA9\xA9", "\xC3\xA9" + R},
      {"5-byte form", "\xF8\x88\x80\x80\x80", R + R + R + R + R},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    CHECK_FALSE(is_valid_utf8(c.bytes));
    CHECK_FALSE(utf8_ok(c.bytes));
    auto whole = escape(c.bytes);
    CHECK(whole.text == c.text);
    CHECK_FALSE(whole.valid);
    CHECK(utf8_ok(whole.text));
    CHECK(json_unescape(whole.text).has_value());
    // The same text whatever the pieces the bytes come in.
    for (std::size_t a = 0; a <= c.bytes.size(); ++a) {
      for (std::size_t b = a; b <= c.bytes.size(); ++b) {
        CAPTURE(a);
        CAPTURE(b);
        auto split = escape(c.bytes, {a, b});
        CHECK(split.text == c.text);
        CHECK_FALSE(split.valid);
      }
    }
  }
}

TEST_CASE("json: a sequence split across feed() calls")
{
  JsonEscaper esc;
  std::string out;
  esc.feed("\xE2", out);
  CHECK(out.empty()); // held until complete
  esc.feed("\x82", out);
  CHECK(out.empty());
  esc.feed("\xAC!", out);
  CHECK(out == "\xE2\x82\xAC!");
  CHECK(esc.valid());
  esc.feed("\xF0\x9F", out);
  esc.feed("", out);
  esc.feed("\x98", out);
  esc.finish(out); // truncated at the very end
  CHECK(out == "\xE2\x82\xAC!" + k_fffd);
  CHECK_FALSE(esc.valid());

  SUBCASE("valid() stays false once an invalid byte was seen")
  {
    JsonEscaper e2;
    std::string o2;
    e2.feed("\xFF", o2);
    CHECK_FALSE(e2.valid());
    e2.feed("all good \xC3\xA9", o2);
    e2.finish(o2);
    CHECK_FALSE(e2.valid());
    CHECK(o2 == k_fffd + "all good \xC3\xA9");
  }
  SUBCASE("finish with nothing pending adds nothing")
  {
    JsonEscaper e3;
    std::string o3;
    e3.feed("ok", o3);
    e3.finish(o3);
    e3.finish(o3);
    CHECK(o3 == "ok");
    CHECK(e3.valid());
  }
}

TEST_CASE("json: random bytes always give valid UTF-8 and valid JSON, however split")
{
  std::mt19937 rng(12345);
  // Bytes drawn mostly from the interesting ranges: ASCII controls, continuations, leads.
  const std::vector<unsigned char> pool = {
      0x00, 0x01, 0x0A, 0x1F, 0x20, 0x22, 0x41, 0x5C, 0x7E, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
      0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0,
      0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 24);
  int valid_seen = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes;
    std::size_t n = length(rng);
    for (std::size_t i = 0; i < n; ++i) {
      bytes.push_back(static_cast<char>(pool[pick(rng)]));
    }
    CAPTURE(bytes);
    auto whole = escape(bytes);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i) {
      if (rng() % 3 == 0) {
        cuts.push_back(i);
      }
    }
    auto split = escape(bytes, cuts);
    CHECK(split.text == whole.text);
    CHECK(split.valid == whole.valid);
    CHECK(utf8_ok(whole.text));
    CHECK(whole.valid == utf8_ok(bytes));
    CHECK(is_valid_utf8(bytes) == utf8_ok(bytes));
    auto decoded = json_unescape(whole.text);
    REQUIRE(decoded.has_value());
    if (whole.valid) {
      ++valid_seen;
      CHECK(*decoded == bytes);
    }
  }
  CHECK(valid_seen > 100); // the generator does produce valid strings too
}

TEST_CASE("json: base64 RFC 4648 test vectors")
{
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},
      {"foo", "Zm9v"},    {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& vector : vectors) {
    const std::string& in = vector.first;
    const std::string& expected = vector.second;
    CAPTURE(in);
    CHECK(b64(in) == expected);
    for (std::size_t a = 0; a <= in.size(); ++a) {
      for (std::size_t b = a; b <= in.size(); ++b) {
        CHECK(b64(in, {a, b}) == expected);
      }
    }
  }
  SUBCASE("binary bytes and the last two alphabet letters")
  {
    CHECK(b64(std::string("\0\0\0", 3)) == "AAAA");
    CHECK(b64(std::string("\0", 1)) == "AA==");
    CHECK(b64("\xFF\xFF\xFF") == "////");
    CHECK(b64("\xFB\xFF") == "+/8=");
    CHECK(b64("\xFF\xFE") == "//4=");
    CHECK(b64("\x80") == "gA==");
  }
  SUBCASE("an encoder is reusable after finish")
  {
    Base64Encoder enc;
    std::string out;
    enc.feed("f", out);
    enc.finish(out);
    enc.feed("fo", out);
    enc.finish(out);
    enc.finish(out);
    CHECK(out == "Zg==Zm8=");
  }
  SUBCASE("random data round-trips, fed in random pieces")
  {
    std::mt19937 rng(99);
    for (int round = 0; round < 200; ++round) {
      std::string data(rng() % 300, '\0');
      for (auto& c : data) {
        c = static_cast<char>(rng() & 0xFF);
      }
      std::vector<std::size_t> cuts;
      for (std::size_t i = 1; i < data.size(); ++i) {
        if (rng() % 7 == 0) {
          cuts.push_back(i);
        }
      }
      auto whole = b64(data);
      CHECK(whole.size() == (data.size() + 2) / 3 * 4);
      CHECK(b64(data, cuts) == whole);
      CHECK(b64_decode(whole) == data);
    }
  }
}

TEST_CASE("json: long inputs keep their escaping")
{
  std::string line = repeat("\xC3\xA9\"\\\x01z", 10000);
  auto e = escape(line, {1, 4097, 50001});
  CHECK(e.valid);
  CHECK(json_unescape(e.text) == line);
  std::string bad = repeat("ok\xFF", 5000);
  auto b = escape(bad);
  CHECK_FALSE(b.valid);
  CHECK(b.text == repeat("ok" + k_fffd, 5000));
}
