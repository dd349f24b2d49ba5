// CompositeExecutor: several executors as one, each owning a range of the run's slots (the
// local machine's and the remote hosts' in a run with -S :,host). All of them share one reactor.
#pragma once

#include "exec/executor.hpp"

#include <memory>
#include <vector>

namespace parmap {

class CompositeExecutor final : public Executor {
public:
  struct Part {
    unsigned first_slot = 1;
    unsigned slots = 0;
    std::unique_ptr<Executor> executor;
  };
  CompositeExecutor(Reactor& reactor, std::vector<Part> parts);

  void start(unsigned slot, Batch batch) override;
  void wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events) override;
  void cancel(std::uint64_t from_seq, int signal) override;
  void kill_all() override;
  void stop_all() override;
  void continue_all() override;
  void resume_output(std::uint64_t seq) override;
  std::size_t running() const override;

private:
  /// Takes what every part has to report, without waiting.
  void collect(std::vector<ExecutorEvent>& events);

  Reactor& m_reactor;
  std::vector<Part> m_parts;
};

} // namespace parmap
