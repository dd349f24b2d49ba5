#include "output/json.hpp"

#include <array>

namespace parmap {
namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD"; // U+FFFD
constexpr std::string_view k_base64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the UTF-8 sequence a lead byte starts, 0 if it cannot start one.
std::size_t sequence_length(unsigned char lead)
{
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    return 2;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    return 4;
  }
  return 0;
}

/// Whether byte `index` (1-based continuation position) may follow `lead` (RFC 3629 table).
bool continuation_ok(unsigned char lead, std::size_t index, unsigned char c)
{
  if ((c & 0xC0) != 0x80) {
    return false;
  }
  if (index != 1) {
    return true;
  }
  switch (lead) {
  case 0xE0:
    return c >= 0xA0; // no overlong 3-byte forms
  case 0xED:
    return c <= 0x9F; // no surrogates
  case 0xF0:
    return c >= 0x90; // no overlong 4-byte forms
  case 0xF4:
    return c <= 0x8F; // nothing above U+10FFFF
  default:
    return true;
  }
}

void append_ascii_escaped(std::string& out, unsigned char c)
{
  static constexpr char k_hex[] = "0123456789abcdef";
  switch (c) {
  case '"':
    out.append("\\\"");
    return;
  case '\\':
    out.append("\\\\");
    return;
  case '\n':
    out.append("\\n");
    return;
  case '\r':
    out.append("\\r");
    return;
  case '\t':
    out.append("\\t");
    return;
  case '\b':
    out.append("\\b");
    return;
  case '\f':
    out.append("\\f");
    return;
  default:
    break;
  }
  if (c < 0x20 || c == 0x7F) {
    out.append("\\u00");
    out.push_back(k_hex[c >> 4]);
    out.push_back(k_hex[c & 0xF]);
    return;
  }
  out.push_back(static_cast<char>(c));
}

} // namespace

void JsonEscaper::flush_pending_as_invalid(std::string& out)
{
  // The lead byte is invalid on its own; the bytes after it are examined again by the caller.
  out.append(k_replacement);
  m_valid = false;
  m_pending_len = 0;
  m_needed = 0;
}

void JsonEscaper::feed(std::string_view bytes, std::string& out)
{
  out.reserve(out.size() + bytes.size() + 16);
  std::size_t i = 0;
  while (i < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (m_needed > 0) {
      auto lead = static_cast<unsigned char>(m_pending[0]);
      if (!continuation_ok(lead, m_pending_len, c)) {
        flush_pending_as_invalid(out);
        continue; // re-examine c as a new lead byte
      }
      m_pending[m_pending_len++] = static_cast<char>(c);
      ++i;
      if (m_pending_len == m_needed) {
        out.append(m_pending, m_pending_len);
        m_pending_len = 0;
        m_needed = 0;
      }
      continue;
    }
    if (c < 0x80) {
      // Fast path for runs of plain ASCII.
      std::size_t j = i;
      while (j < bytes.size()) {
        auto d = static_cast<unsigned char>(bytes[j]);
        if (d >= 0x80 || d < 0x20 || d == '"' || d == '\\' || d == 0x7F) {
          break;
        }
        ++j;
      }
      if (j > i) {
        out.append(bytes.data() + i, j - i);
        i = j;
        continue;
      }
      append_ascii_escaped(out, c);
      ++i;
      continue;
    }
    std::size_t len = sequence_length(c);
    if (len == 0) {
      out.append(k_replacement);
      m_valid = false;
      ++i;
      continue;
    }
    m_pending[0] = static_cast<char>(c);
    m_pending_len = 1;
    m_needed = len;
    ++i;
  }
}

void JsonEscaper::finish(std::string& out)
{
  if (m_needed > 0) {
    flush_pending_as_invalid(out);
  }
}

bool append_json_string(std::string& out, std::string_view bytes)
{
  JsonEscaper esc;
  out.push_back('"');
  esc.feed(bytes, out);
  esc.finish(out);
  out.push_back('"');
  return esc.valid();
}

bool is_valid_utf8(std::string_view bytes)
{
  JsonEscaper esc;
  std::string sink;
  esc.feed(bytes, sink);
  esc.finish(sink);
  return esc.valid();
}

std::size_t utf8_sequence_at(std::string_view bytes, std::size_t i)
{
  auto lead = static_cast<unsigned char>(bytes[i]);
  std::size_t len = sequence_length(lead);
  if (len == 0 || i + len > bytes.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (!continuation_ok(lead, k, static_cast<unsigned char>(bytes[i + k]))) {
      return 0;
    }
  }
  return len;
}

void Base64Encoder::feed(std::string_view bytes, std::string& out)
{
  for (char ch : bytes) {
    m_carry[m_carry_len++] = static_cast<unsigned char>(ch);
    if (m_carry_len == 3) {
      unsigned v = (unsigned{m_carry[0]} << 16) | (unsigned{m_carry[1]} << 8) | m_carry[2];
      out.push_back(k_base64[(v >> 18) & 63]);
      out.push_back(k_base64[(v >> 12) & 63]);
      out.push_back(k_base64[(v >> 6) & 63]);
      out.push_back(k_base64[v & 63]);
      m_carry_len = 0;
    }
  }
}

void Base64Encoder::finish(std::string& out)
{
  if (m_carry_len == 0) {
    return;
  }
  unsigned v = unsigned{m_carry[0]} << 16;
  if (m_carry_len == 2) {
    v |= unsigned{m_carry[1]} << 8;
  }
  out.push_back(k_base64[(v >> 18) & 63]);
  out.push_back(k_base64[(v >> 12) & 63]);
  out.push_back(m_carry_len == 2 ? k_base64[(v >> 6) & 63] : '=');
  out.push_back('=');
  m_carry_len = 0;
}

} // namespace parmap
