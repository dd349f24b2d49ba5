// Test helpers that check JSON and UTF-8 independently of the library: a UTF-8 validator, a
// strict JSON string decoder, a base64 decoder and a parser for flat JSON objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parmap::test {

/// Decodes code points and checks their ranges (RFC 3629): no overlongs, surrogates or values
/// above U+10FFFF.
inline bool utf8_ok(std::string_view s)
{
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 0;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F;
      len = 2;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F;
      len = 3;
    } else if ((b & 0xF8) == 0xF0) {
      cp = b & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < k_min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

inline void put_utf8(std::string& out, std::uint32_t cp)
{
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// Decodes the inside of a JSON string strictly (RFC 8259); nullopt if it is not one. Surrogate
/// escapes are refused: the escaper never needs them.
inline std::optional<std::string> json_unescape(std::string_view s)
{
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"') {
      return std::nullopt;
    }
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (++i >= s.size()) {
      return std::nullopt;
    }
    switch (s[i]) {
    case '"': out.push_back('"'); break;
    case '\\': out.push_back('\\'); break;
    case '/': out.push_back('/'); break;
    case 'b': out.push_back('\b'); break;
    case 'f': out.push_back('\f'); break;
    case 'n': out.push_back('\n'); break;
    case 'r': out.push_back('\r'); break;
    case 't': out.push_back('\t'); break;
    case 'u': {
      if (i + 4 >= s.size()) {
        return std::nullopt;
      }
      std::uint32_t cp = 0;
      for (int k = 0; k < 4; ++k) {
        char h = s[++i];
        cp <<= 4;
        if (h >= '0' && h <= '9') {
          cp |= static_cast<std::uint32_t>(h - '0');
        } else if (h >= 'a' && h <= 'f') {
          cp |= static_cast<std::uint32_t>(h - 'a' + 10);
        } else if (h >= 'A' && h <= 'F') {
          cp |= static_cast<std::uint32_t>(h - 'A' + 10);
        } else {
          return std::nullopt;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        return std::nullopt;
      }
      put_utf8(out, cp);
      break;
    }
    default:
      return std::nullopt;
    }
  }
  return out;
}

/// Decodes padded base64 (RFC 4648); nullopt on malformed text.
inline std::optional<std::string> b64_decode(std::string_view text)
{
  static const std::string k_alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      v <<= 6;
      if (c == '=') {
        ++pad;
        continue;
      }
      auto pos = k_alphabet.find(c);
      if (pad != 0 || pos == std::string::npos) {
        return std::nullopt;
      }
      v |= static_cast<std::uint32_t>(pos);
    }
    if (pad > 2 || (pad != 0 && i + 4 != text.size())) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) {
      out.push_back(static_cast<char>((v >> 8) & 0xFF));
    }
    if (pad < 1) {
      out.push_back(static_cast<char>(v & 0xFF));
    }
  }
  return out;
}

/// One member of a flat JSON object.
struct JsonMember {
  enum class Kind { string, number, boolean, null, strings };
  std::string key;
  Kind kind = Kind::null;
  std::string value; ///< The decoded string, or the literal as written.
  std::vector<std::string> strings; ///< An array of strings, decoded.
};

/// Parses `{"k":v,...}` whose values are strings, numbers, true, false, null or arrays of
/// strings; nullopt when the text is anything else (trailing bytes included).
inline std::optional<std::vector<JsonMember>> parse_flat_object(std::string_view s)
{
  std::size_t i = 0;
  auto string_at = [&]() -> std::optional<std::string> {
    if (i >= s.size() || s[i] != '"') {
      return std::nullopt;
    }
    std::size_t j = i + 1;
    while (j < s.size() && s[j] != '"') {
      j += s[j] == '\\' ? 2 : 1;
    }
    if (j >= s.size()) {
      return std::nullopt;
    }
    auto decoded = json_unescape(s.substr(i + 1, j - i - 1));
    i = j + 1;
    return decoded;
  };
  std::vector<JsonMember> members;
  if (s.empty() || s[i++] != '{') {
    return std::nullopt;
  }
  if (i < s.size() && s[i] == '}') {
    return ++i == s.size() ? std::optional(members) : std::nullopt;
  }
  for (;;) {
    JsonMember m;
    auto key = string_at();
    if (!key || i >= s.size() || s[i++] != ':') {
      return std::nullopt;
    }
    m.key = *key;
    if (i >= s.size()) {
      return std::nullopt;
    }
    if (s[i] == '"') {
      auto v = string_at();
      if (!v) {
        return std::nullopt;
      }
      m.kind = JsonMember::Kind::string;
      m.value = *v;
    } else if (s[i] == '[') {
      m.kind = JsonMember::Kind::strings;
      ++i;
      while (i < s.size() && s[i] != ']') {
        auto v = string_at();
        if (!v || i >= s.size() || (s[i] != ',' && s[i] != ']')) {
          return std::nullopt;
        }
        m.strings.push_back(*v);
        i += s[i] == ',' ? 1 : 0;
      }
      if (i >= s.size()) {
        return std::nullopt;
      }
      ++i;
    } else {
      std::size_t j = i;
      while (j < s.size() && s[j] != ',' && s[j] != '}') {
        ++j;
      }
      m.value = std::string(s.substr(i, j - i));
      i = j;
      if (m.value == "true" || m.value == "false") {
        m.kind = JsonMember::Kind::boolean;
      } else if (m.value == "null") {
        m.kind = JsonMember::Kind::null;
      } else {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        std::size_t k = 0;
        const std::string& v = m.value;
        auto digits = [&] {
          std::size_t start = k;
          while (k < v.size() && v[k] >= '0' && v[k] <= '9') {
            ++k;
          }
          return k - start;
        };
        if (k < v.size() && v[k] == '-') {
          ++k;
        }
        std::size_t int_start = k;
        std::size_t n = digits();
        if (n == 0 || (n > 1 && v[int_start] == '0')) {
          return std::nullopt;
        }
        if (k < v.size() && v[k] == '.') {
          ++k;
          if (digits() == 0) {
            return std::nullopt;
          }
        }
        if (k < v.size() && (v[k] == 'e' || v[k] == 'E')) {
          ++k;
          if (k < v.size() && (v[k] == '+' || v[k] == '-')) {
            ++k;
          }
          if (digits() == 0) {
            return std::nullopt;
          }
        }
        if (k != v.size()) {
          return std::nullopt;
        }
        m.kind = JsonMember::Kind::number;
      }
    }
    members.push_back(std::move(m));
    if (i >= s.size()) {
      return std::nullopt;
    }
    char c = s[i++];
    if (c == '}') {
      return i == s.size() ? std::optional(members) : std::nullopt;
    }
    if (c != ',') {
      return std::nullopt;
    }
  }
}

} // namespace parmap::test
