// How the CLI shows items and captured text in its own messages and reports.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parmap::cli {

/// `text` made safe for a terminal line: control bytes and DEL become '?' (newlines too,
/// unless `keep_newlines`), and more than `max` bytes are cut, with "..." after.
inline std::string printable(std::string_view text, std::size_t max, bool keep_newlines = false)
{
  std::string s(text.substr(0, max));
  for (char& c : s) {
    auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && !(keep_newlines && c == '\n')) || b == 0x7F) {
      c = '?';
    }
  }
  if (text.size() > max) {
    s += "...";
  }
  return s;
}

} // namespace parmap::cli
