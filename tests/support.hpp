// Test support: a scratch directory, and FakeExecutor, which completes items when told to so
// that the engine's scheduling can be tested step by step without processes.
#pragma once

#include "run/engine.hpp"
#include "exec/executor.hpp"

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace parmap::test {

void set_scratch_dir(const std::filesystem::path& dir);
/// A fresh, empty directory under the run's scratch directory.
std::filesystem::path scratch(const std::string& name);

/// Distinct, position-dependent bytes, so that misplaced or reordered bytes show.
std::string pattern(std::size_t n, unsigned seed);

/// Calls feed(piece) for the pieces of `text` cut at `cuts` (ascending positions), the last one
/// included: how a test splits one input across chunk boundaries.
template <class Feed>
void feed_in_pieces(std::string_view text, const std::vector<std::size_t>& cuts, Feed&& feed)
{
  std::size_t at = 0;
  for (auto cut : cuts) {
    feed(text.substr(at, cut - at));
    at = cut;
  }
  feed(text.substr(at));
}

/// Runs batches on pretend slots. Nothing finishes on its own: the test (or an `on_wait`
/// policy) calls finish(). Every start is recorded.
class FakeExecutor final : public Executor {
public:
  explicit FakeExecutor(OutputListener& listener) : m_listener(listener) {}

  void start(unsigned slot, Batch batch) override;
  void wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events) override;
  void cancel(std::uint64_t from_seq, int signal) override;
  void kill_all() override { cancel(0, SIGKILL); }
  void stop_all() override { job_control.push_back(SIGSTOP); }
  void continue_all() override { job_control.push_back(SIGCONT); }
  void resume_output(std::uint64_t) override {}
  std::size_t running() const override;

  /// Ends the running item `seq` (it must be the current item of its slot).
  void finish(std::uint64_t seq, Status status = Status::ok, int exit_code = 0,
              const std::string& out = "", const std::string& err = "");
  /// Ends the oldest running item (lowest seq) with success and `out` = its text + "\n".
  bool finish_oldest();
  /// Items running now (the current item of each busy slot), by seq.
  std::vector<std::uint64_t> running_seqs() const;
  /// Items running now on `slot`: its current one, or none.
  std::optional<std::uint64_t> running_on(unsigned slot) const;
  /// The slot's host went away: its items end as lost (not attempts) and the slot is gone.
  void lose_slot(unsigned slot);
  /// The slot's host is back: the slot is free again.
  void restore_slot(unsigned slot);

  /// Batches as started: slot and item seqs.
  struct Started {
    unsigned slot;
    std::vector<std::uint64_t> seqs;
    std::vector<double> timeouts;
  };
  std::vector<Started> started;
  std::vector<std::pair<std::uint64_t, int>> cancels; ///< (from_seq, signal) per cancel().
  std::vector<int> job_control; ///< SIGSTOP per stop_all(), SIGCONT per continue_all().
  /// Called by wait() when it has nothing to report; it should finish something.
  std::function<void(FakeExecutor&)> on_wait;
  /// The texts of items, by seq, as dispatched.
  std::map<std::uint64_t, std::string> texts;
  /// The runtime finish() reports, in seconds.
  double duration = 0.01;
  /// The blocks of items, by seq, one per start (not kept alive: the engine's to release).
  std::map<std::uint64_t, std::vector<std::weak_ptr<const Block>>> blocks;

private:
  struct Slot {
    std::deque<Item> queue;
    bool busy = false;
  };
  void start_next(unsigned slot);
  // Reports an item that ended without running to completion: killed (`ran`) or dropped.
  void end_interrupted(unsigned slot, std::uint64_t seq, bool ran);

  OutputListener& m_listener;
  std::map<unsigned, Slot> m_state;
  std::vector<ExecutorEvent> m_events;
  std::uint64_t m_cancel_from = UINT64_MAX;
};

/// An Engine over a FakeExecutor; `fake` is set once the engine made it.
struct FakeRun {
  FakeExecutor* fake = nullptr;
  std::unique_ptr<detail::Engine> engine;
  FakeRun(Command command, Items items, Options options,
          std::function<void(FakeExecutor&)> on_wait = {});
  /// Takes every result until the end; exceptions propagate.
  std::vector<Result> drain();
  /// Takes results until the run stops with ItemFailed: the results before it go to `before`,
  /// and the failed item's result is returned (nothing when the run ended without a failure).
  std::optional<Result> drain_until_failure(std::vector<Result>& before);
};

} // namespace parmap::test
