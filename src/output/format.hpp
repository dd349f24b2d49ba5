// Output formats: the pieces that render an item's output raw, tagged (--tag) or as a JSON
// record (--json), reading spilled bytes lazily.
#pragma once

#include "output/json.hpp"
#include "parmap/result.hpp"
#include "output/spill.hpp"
#include "output/writer.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace parmap {

/// Prefixes every line of a stream with a fixed tag, across chunks.
class LineTagger {
public:
  explicit LineTagger(std::string prefix, bool at_line_start = true)
      : m_prefix(std::move(prefix)), m_at_line_start(at_line_start)
  {
  }
  /// Appends `bytes` to out with the prefix at the start of every line.
  void apply(std::string_view bytes, std::string& out);

private:
  std::string m_prefix;
  bool m_at_line_start = true;
};

/// Reads the bytes of a StoredBytes from the start, a chunk at a time, up to `limit` bytes.
/// Positions are absolute, so the bytes may keep growing (and move from memory to the spill
/// file) while a cursor reads the part that existed when it was made.
class StoredCursor {
public:
  explicit StoredCursor(std::shared_ptr<const detail::StoredBytes> bytes,
                        std::uint64_t limit = UINT64_MAX)
      : m_bytes(std::move(bytes)), m_limit(limit)
  {
  }
  /// Appends up to `max` bytes to out; false once everything was read.
  bool next(std::string& out, std::size_t max);

private:
  std::shared_ptr<const detail::StoredBytes> m_bytes;
  std::uint64_t m_limit;
  std::uint64_t m_pos = 0;
  /// Extents before m_extent never change; m_extent_start is where m_extent begins.
  std::size_t m_extent = 0;
  std::uint64_t m_extent_start = 0;
};

/// Stored bytes written raw, or tagged when a tagger is given.
class StoredPiece final : public Piece {
public:
  StoredPiece(std::shared_ptr<const detail::StoredBytes> bytes,
              std::unique_ptr<LineTagger> tagger,
              std::uint64_t limit = UINT64_MAX)
      : m_cursor(std::move(bytes), limit), m_tagger(std::move(tagger))
  {
  }
  bool fill(std::string& buf, std::size_t max) override;

private:
  StoredCursor m_cursor;
  std::unique_ptr<LineTagger> m_tagger;
  std::string m_raw;
};

/// One --json record of a finished item, rendered lazily, ending with a newline. Fields: seq,
/// item, args, status, exit, signal, duration_s, attempts, replayed, stdout, stderr;
/// `item_b64`, `args_b64`, `stdout_b64` and `stderr_b64` are added with the exact bytes when
/// they are not valid UTF-8 (the text fields then carry U+FFFD in place of invalid bytes).
std::unique_ptr<Piece> make_json_record(const Result& result);

/// The fields that name an item in JSON, appended after a "{": seq, item (the arguments joined
/// by spaces), args (an array), each with a base64 copy when not UTF-8.
void append_seq_and_item(std::string& out,
                         std::uint64_t seq,
                         std::string_view item,
                         std::span<const std::string> args);

/// The fields every per-item JSON object (a --json record, a --report entry) starts with,
/// appended after its "{": append_seq_and_item()'s, then status, exit, signal, duration_s,
/// attempts.
void append_item_fields(std::string& out,
                        std::uint64_t seq,
                        std::string_view item,
                        std::span<const std::string> args,
                        Status status,
                        int exit_code,
                        int signal,
                        double duration,
                        unsigned attempts);

/// The arguments joined by `separator`.
std::string joined(std::span<const std::string> args, char separator);
/// The --tag prefix: the arguments, TAB-separated, and a TAB.
std::string tag_prefix(std::span<const std::string> args);

} // namespace parmap
