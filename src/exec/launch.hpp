// Launch: what an item runs as (argv and environment additions), and the seam that makes it:
// rendered from the command template on the controller, or received ready-made by an agent.
#pragma once

#include "exec/command.hpp"
#include "exec/executor.hpp"

#include <optional>
#include <string>
#include <vector>

namespace parmap {

/// The process an item runs as.
struct Launch {
  std::vector<std::string> argv;
  /// NAME=VALUE pairs set for this item on top of (and overriding) the inherited environment.
  std::vector<std::string> env;
};

/// Turns an item into the process that runs it. The local executor asks one per item; the
/// controller asks one to ship rendered commands to agents, which never see a template.
class LaunchBuilder {
public:
  /// Fills `out` (argv cleared first) for `item` running on `slot`. Returns why the item must
  /// not run (a value a shell would evaluate as arithmetic that is not a number); `out` is
  /// complete anyway.
  [[nodiscard]] virtual std::optional<std::string> build(const Item& item,
                                                         unsigned slot,
                                                         Launch& out) const = 0;
  /// The command as a user could paste it into sh (--dry-run, the joblog).
  virtual std::string display(const Item& item, unsigned slot) const = 0;

protected:
  ~LaunchBuilder() = default;
};

/// Renders items through a CommandTemplate, with PARMAP_SEQ, PARMAP_SLOT, PARALLEL_SEQ and
/// PARALLEL_JOBSLOT in the environment.
class TemplateLaunch final : public LaunchBuilder {
public:
  explicit TemplateLaunch(const CommandTemplate& command) : m_command(command) {}
  std::optional<std::string> build(const Item& item, unsigned slot, Launch& out) const override;
  std::string display(const Item& item, unsigned slot) const override;

private:
  const CommandTemplate& m_command;
};

/// Builds `item`'s launch into `out`, or says why it cannot run (an argument cut at the size
/// limit or holding a NUL, or build()'s refusal) as a line for its stderr; it then fails with
/// exit status 126.
std::optional<std::string> prepare_launch(const LaunchBuilder& builder,
                                          const Item& item,
                                          unsigned slot,
                                          Launch& out);

} // namespace parmap
