// parmap::Error: what the library throws for a setup, input or I/O failure that ends a run.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace parmap {

/// A failure of the run itself rather than of one item: a bad option, an unreadable input file,
/// a checkpoint that is not parmap's or does not match, a failed write to the output. The
/// `parmap` executable reports it in one line and exits with status 255.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An Options value, or a combination of them, that a run cannot use. The message names the
/// members (`Options::batch_size must be at least 1`); field() is the one at fault, so that a
/// front end can word the message for its own flags.
class OptionError : public Error {
public:
  OptionError(std::string field, const std::string& message)
      : Error(message), m_field(std::move(field))
  {
  }
  /// The Options member at fault: "batch_size", "halt", ...
  const std::string& field() const { return m_field; }

private:
  std::string m_field;
};

/// A checkpoint holding results this run may not take as its own: finished items while
/// Options::resume is not set, or items recorded for another command while Options::force is
/// not set. Nothing ran and the file is untouched. The fields let a front end word the message.
class CheckpointConflict : public Error {
public:
  enum class Kind {
    not_resumed,   ///< The file holds finished items; Options::resume would continue them.
    other_command, ///< Recorded for another command; Options::force would take them anyway.
  };
  CheckpointConflict(Kind kind, std::string path, std::uint64_t finished,
                     std::string recorded_command, std::string command);
  Kind kind() const { return m_kind; }
  const std::string& path() const { return m_path; }
  /// Finished items in the file.
  std::uint64_t finished() const { return m_finished; }
  /// The command template the file was recorded for, and the one of this run.
  const std::string& recorded_command() const { return m_recorded; }
  const std::string& command() const { return m_command; }

private:
  Kind m_kind;
  std::string m_path;
  std::uint64_t m_finished;
  std::string m_recorded;
  std::string m_command;
};

} // namespace parmap
