// JSON text for --json records and --report: string escaping that stays valid on any bytes.
#pragma once

#include <string>
#include <string_view>

namespace parmap {

/// Escapes bytes as the inside of a JSON string, across several calls (a UTF-8 sequence may be
/// split between pieces). Invalid UTF-8 becomes U+FFFD, so the text is always valid JSON;
/// valid() then tells that the bytes need a lossless base64 copy as well.
class JsonEscaper {
public:
  /// Appends the escaped form of `bytes` to out.
  void feed(std::string_view bytes, std::string& out);
  /// Ends the string: an incomplete trailing sequence becomes U+FFFD.
  void finish(std::string& out);
  bool valid() const { return m_valid; }

private:
  void flush_pending_as_invalid(std::string& out);

  char m_pending[4] = {};
  std::size_t m_pending_len = 0;
  std::size_t m_needed = 0;
  bool m_valid = true;
};

/// Appends `"escaped"` (with quotes) for a complete string; false when it was not valid UTF-8
/// (so a caller that needs both learns it without escaping twice).
bool append_json_string(std::string& out, std::string_view bytes);
/// True when bytes are valid UTF-8.
bool is_valid_utf8(std::string_view bytes);
/// The length (1-4) of the valid UTF-8 sequence that starts at bytes[i]; 0 when none does.
std::size_t utf8_sequence_at(std::string_view bytes, std::size_t i);

/// Base64 (RFC 4648, with padding), across several calls.
class Base64Encoder {
public:
  void feed(std::string_view bytes, std::string& out);
  void finish(std::string& out);

private:
  unsigned char m_carry[3] = {};
  std::size_t m_carry_len = 0;
};

} // namespace parmap
