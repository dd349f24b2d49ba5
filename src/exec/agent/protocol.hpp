// Agent protocol: the messages between a controller and `parmap --agent`, their binary encoding
// and framing. The agent speaks first: a greeting line with its versions, then frames.
#pragma once

#include "exec/executor.hpp"
#include "parmap/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parmap::agent {

/// Bumped whenever a message changes: controller and agent must speak the same one.
inline constexpr unsigned k_protocol_version = 3;
/// The agent's first line is "PARMAP-AGENT <protocol> <parmap version>\n".
inline constexpr std::string_view k_greeting_word = "PARMAP-AGENT";
/// At most this much output or file data travels in one frame.
inline constexpr std::size_t k_chunk = 64 * 1024;
/// A frame's length field (type byte and payload) may not exceed this: a larger one is garbage.
inline constexpr std::uint32_t k_max_frame = 16 * 1024 * 1024;
/// Lines before the greeting (a chatty login script) are skipped up to this many bytes.
inline constexpr std::size_t k_max_preamble = 64 * 1024;

/// The stream broke the protocol (garbage, a truncated or oversized frame, an unknown type).
class ProtocolError : public Error {
public:
  using Error::Error;
};

// Controller -> agent.

/// Which item ends make an agent hold the items queued behind its running ones until the
/// controller has seen them: those a --halt may stop the run on. Without it, an item queued
/// on a slot would start the moment a failure freed it, before the controller could halt.
struct HoldAfter {
  bool failure = false; ///< Failed, timed out or killed by a signal (not interrupted).
  bool success = false;

  /// Whether an end with `status` (not an interrupted one) holds the queue.
  bool operator()(Status status) const { return status == Status::ok ? success : failure; }
};

/// Once, first: how the agent runs everything after it.
struct Setup {
  unsigned slots = 1;
  double kill_grace = 1;
  std::string workdir;           ///< Relative to the login directory; "..." = a fresh temporary one.
  std::vector<std::string> env;  ///< NAME=VALUE for every item (--env, PARMAP_HOST).
  bool cleanup = false;          ///< Remove transferred files (--basefile included) when done.
  double heartbeat = 5;          ///< Seconds between pings when idle.
  HoldAfter hold;
};

/// Run one item on one of the agent's slots, after the ones queued there: the controller may
/// send a slot's next items before its running one ends, so that no round trip separates them.
struct Run {
  std::uint64_t seq = 0;
  unsigned slot = 1; ///< 1-based, among the agent's slots.
  double timeout = 0;
  std::vector<std::string> argv;
  std::vector<std::string> env;     ///< NAME=VALUE overrides for this item.
  std::vector<std::string> returns; ///< Files to send back once it ended (--return).
  std::vector<std::string> remove;  ///< Files to remove after that (--cleanup).
};

struct Cancel {
  std::uint64_t from_seq = 0;
  int signal = 0;
};
struct KillAll {};
/// The controller saw `ends` item ends that held the queue (HoldAfter) and goes on: the agent
/// starts its queued items again once every end that held it is released (or a Cancel came).
struct Release {
  std::uint32_t ends = 0;
};

// Agent -> controller.

/// After the greeting: what the controller needs to know about the host.
struct Hello {
  unsigned cpus = 1;
  std::string hostname; ///< The node's name as Slurm knows it, inside a Slurm step.
  std::string step;     ///< The Slurm job step the agent is ("JOBID.STEPID"); empty outside one.
};
struct Started {
  std::uint64_t seq = 0;
};
struct ItemOutput {
  std::uint64_t seq = 0;
  Stream stream = Stream::out;
  std::string bytes;
};
struct Ended {
  std::uint64_t seq = 0;
  Status status = Status::ok;
  int exit_code = 0;
  int signal = 0;
  double started = 0; ///< Unix time, on the agent's clock.
  double duration = 0;
  bool interrupted = false;
};
/// The agent cannot go on (its working directory cannot be made); it exits after this.
struct Fatal {
  std::string message;
};

// Both ways.

/// A file follows in FileData frames up to FileEnd: to the agent, a --transferfile or
/// --basefile (`seq` 0); from it, a --return of item `seq` (`path` as the Run named it).
struct FileBegin {
  std::uint64_t seq = 0;
  std::string path;
  std::uint32_t mode = 0644;
};
struct FileData {
  std::string bytes;
};
/// The end of the file; `error` says why it is incomplete (then the receiver drops it).
struct FileEnd {
  std::string error;
};
/// Sent when nothing else was for a heartbeat interval.
struct Ping {};

using Message = std::variant<Setup, Run, Cancel, KillAll, Hello, Started, ItemOutput, Ended, Fatal,
                             FileBegin, FileData, FileEnd, Ping, Release>;

/// A message's name, for "unexpected message" errors.
const char* name_of(const Message& message);

/// Appends one frame holding `message` to `out`.
void append_frame(std::string& out, const Message& message);
/// Appends an ItemOutput frame without building the message (the agent's hot path).
void append_output_frame(std::string& out, std::uint64_t seq, Stream stream, std::string_view bytes);
/// Decodes one frame's type and payload (as FrameReader gives them). Throws ProtocolError.
Message decode(std::string_view frame);

/// "PARMAP-AGENT <protocol> <version>\n" for this parmap.
std::string greeting();

/// What the agent's greeting said.
struct Greeting {
  unsigned protocol = 0;
  std::string version;
};

/// The agent greeted with another protocol version: nothing after its greeting can be read.
class VersionMismatch : public ProtocolError {
public:
  using ProtocolError::ProtocolError;
};

/// Cuts a byte stream into frames. On the controller's side it first looks for the greeting,
/// skipping up to k_max_preamble bytes of other lines.
class FrameReader {
public:
  /// `expect_greeting`: the stream starts with the agent's greeting.
  explicit FrameReader(bool expect_greeting) : m_greeting_pending(expect_greeting) {}

  /// Appends bytes received.
  void feed(std::string_view bytes);
  /// The greeting, once it has been read (it is read by next()).
  const std::optional<Greeting>& greeting() const { return m_greeting; }
  /// The next whole frame (type byte and payload), valid until the next call to feed() or
  /// next(); nothing when more bytes are needed. Throws ProtocolError on garbage, and
  /// VersionMismatch after a greeting of another protocol version.
  std::optional<std::string_view> next();
  /// Lines skipped before the greeting (to show what a login script printed).
  const std::string& preamble() const { return m_preamble; }
  /// Bytes held that are not a whole frame yet.
  std::size_t buffered() const { return m_buffer.size() - m_pos; }

private:
  bool read_greeting();

  std::string m_buffer;
  std::size_t m_pos = 0;
  bool m_greeting_pending;
  std::optional<Greeting> m_greeting;
  std::string m_preamble;
};

} // namespace parmap::agent
