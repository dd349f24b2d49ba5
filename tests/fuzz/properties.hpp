// Fuzz properties: the checks each libFuzzer target runs on one input, shared with the unit
// test that replays tests/fuzz/corpus/ and tests/fuzz/regressions/ (test_fuzz_replay.cpp).
#pragma once

#include "parmap/items.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parmap::fuzz {

/// A property did not hold. Deliberately not a std::runtime_error, so that no handler for
/// parmap::Error (or the code under test) can swallow it.
class PropertyViolation : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// Template parser and renderer. Input: [shell-mode byte][seq][slot][item length: 2 bytes]
/// then the template words separated by NUL, then the item (its last `item length` bytes,
/// capped to what is there; it may hold NULs). Every Shell mode is tried.
void check_command(const std::uint8_t* data, std::size_t size);

/// Splitter. Input: [delimiter][chunking seed: 2 bytes][repeat byte] then the stream. When the
/// repeat byte is >= 200, the stream's first record is repeated (up to 2 x k_max_item_bytes) to
/// reach records over the cap.
void check_input(const std::uint8_t* data, std::size_t size);

/// BlockCutter (--pipe). Input: [mode][block size][counts][separator lengths or pattern][chunking
/// seed: 2 bytes] then the literal --recend and --recstart bytes, then the stream. mode & 3: fill
/// blocks, -N, -L, or both; (mode >> 2) & 3: no header, ":", "2", or a regex; mode & 16:
/// --regexp with a pattern pair from a fixed table (fuzzed patterns could backtrack for ever).
void check_blocks(const std::uint8_t* data, std::size_t size);

/// What a BlockCutter makes of a whole stream.
struct CutBlocks {
  std::string header;
  std::vector<std::string> blocks;
  std::vector<std::uint64_t> growth; ///< The block sizes it grew from, in order.
};
/// Cuts `input` with a BlockCutter whose reads return at most `piece()` bytes at a time (a
/// read of 0 bytes counts as 1).
CutBlocks cut_blocks(const BlockFormat& format,
                     std::string_view input,
                     const std::function<std::size_t()>& piece);

/// cli::interpret on "parmap" + the data split at NUL ('/' mapped to '_', so that no path
/// leaves the sandbox), run in cli_sandbox(): a Config, or 0, or a usage error of one line
/// (and perhaps a pointer to --help) in parmap's words.
void check_cli(const std::uint8_t* data, std::size_t size);

/// A temporary directory (made once, removed at exit) holding only a small item file "in", so
/// that `:::: in` and `-a in` work and no other file is reachable by a relative path.
std::string cli_sandbox();

/// Checkpoint opener and read_report on a damaged file. An input that starts with SQLite's
/// magic ("SQLite format 3\0") is the whole database file. Otherwise:
/// [mode byte] then edits of [op][offset: 3 bytes][length][bytes] applied to a valid checkpoint
/// made once at start-up (mode & 3: 0/1 the committed file, 2 its WAL image with the WAL
/// damaged, 3 the same with the database damaged; mode & 4: resume with another command and
/// --force; mode & 8: --retry-failed). op & 3: 0 overwrite, 1 truncate, 2 append, 3 xor.
void check_checkpoint(const std::uint8_t* data, std::size_t size);

/// The undamaged checkpoint file the edits apply to (for the seed corpus).
std::string valid_checkpoint_image();

/// Agent protocol reader. Input: [flags][chunking seed] then the byte stream. flags & 1: the
/// stream starts with the agent's greeting (the controller's side). The stream is fed to a
/// FrameReader in chunks whose sizes come from the seed; every frame is decoded. Properties:
/// only ProtocolError is thrown; a decoded message re-encodes to a frame that decodes to a
/// message encoding the same way (a fixed point after one round); the reader never holds more
/// than one frame's worth beyond what it was fed.
void check_protocol(const std::uint8_t* data, std::size_t size);

/// Runs `check`, turning a PropertyViolation (or any other escaping exception) into a report
/// on stderr and abort(), which libFuzzer records as a crash.
int run_or_abort(void (*check)(const std::uint8_t*, std::size_t),
                 const std::uint8_t* data,
                 std::size_t size);

} // namespace parmap::fuzz
