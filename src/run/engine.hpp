// Engine: one run. Pulls items, dispatches batches to an executor, routes output, delivers
// results in order (or as ready), records them in the checkpoint, and stops cleanly.
#pragma once

#include "store/checkpoint.hpp"
#include "exec/command.hpp"
#include "run/dispatch.hpp"
#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "output/format.hpp"
#include "input/input.hpp"
#include "parmap/parmap.hpp"
#include "base/reactor.hpp"
#include "base/signals.hpp"
#include "output/spill.hpp"
#include "output/writer.hpp"
#include "input/columns.hpp"
#include "run/grouping.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace parmap::detail {

/// Builds the executor for a run (tests pass a fake one).
using ExecutorFactory = std::function<std::unique_ptr<Executor>(
    Reactor&, const CommandTemplate&, OutputListener&, unsigned slots)>;

class Engine final : public OutputListener {
public:
  /// Validates the options, opens the checkpoint and sets the run up; runs nothing yet.
  /// Throws parmap::Error.
  Engine(Command command, Items items, Options options, ExecutorFactory factory = {});
  /// Stops whatever still runs (SIGTERM, SIGKILL after the grace) and commits the checkpoint.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Runs until the next result is delivered; nullopt at the end. The previous result counts
  /// as consumed (and is recorded when results are not forwarded). Throws ItemFailed at the end
  /// of a run halted by a failure, Interrupted after a signal, Error on a run failure.
  std::optional<Result> next();
  Summary summary() const;

  bool on_output(std::uint64_t seq, Stream stream, std::string_view bytes) override;
  long take_from_pipe(std::uint64_t seq, Stream stream, int pipe_fd) override;

private:
  /// An item between dispatch (or replay) and delivery.
  struct Flight {
    std::vector<std::string> args;
    std::uint64_t oversize = 0;
    std::uint64_t occurrence = 0;
    std::uint64_t batch = 0;
    unsigned attempt = 1;
    Capture out;
    Capture err;
    bool started = false;
    bool ended = false;
    bool interrupted = false;
    bool streaming = false;         ///< Output goes to the writer as it arrives.
    std::string host;               ///< The remote host running it; empty: this machine.
    std::unique_ptr<LineTagger> tag_out; ///< --tag state while streaming.
    std::unique_ptr<LineTagger> tag_err;
    std::string partial[2];          ///< --line-buffer: the unterminated last line.
    std::size_t counted = 0;         ///< Captured bytes held in memory (in m_buffered).
    std::optional<Result> result;    ///< Set when it ended with a terminal record.

    Capture& capture(Stream s) { return s == Stream::out ? out : err; }
    std::unique_ptr<LineTagger>& tagger(Stream s) { return s == Stream::out ? tag_out : tag_err; }
  };
  /// A delivered result on its way to the caller: with its batch and checkpoint key.
  struct Delivered {
    Result result;
    std::uint64_t batch = 0;
    std::uint64_t occurrence = 0;
  };
  enum class Phase { running, done };

  /// Makes the executor (a test's, the ssh one for --sshlogin, else the local one) and sets
  /// the number of slots.
  void make_executor(ExecutorFactory factory, unsigned jobs, bool reset_sigpipe);
  void setup_checkpoint();
  void step();
  void service_writer();
  bool finished() const;
  void dispatch();
  void pull_ahead(std::size_t want);
  bool pull_record(Record& record);
  bool pull_group(Record& group);
  void name_columns();
  /// Every item was read and grouped: nothing more will come from the input.
  bool input_exhausted() const { return m_input_done && (!m_grouper || m_grouper->empty()); }
  void add_replay(std::uint64_t seq, Record& record, std::uint64_t occurrence, Result stored);
  void start_batch(Batch batch);
  std::optional<std::uint64_t> unsent_items() const;
  std::size_t busy_slots() const { return m_slots - m_free_slots.size(); }
  double item_timeout() const;
  void handle(ExecutorEvent& event);
  void on_started(const ItemStarted& e);
  void on_ended(ItemEnded& e);
  Result make_result(Flight& f, std::uint64_t seq, const ItemEnded& e);
  void check_halt(const Result& r);
  void begin_stop(std::uint64_t from_seq, int signal);
  void on_signal(int signal);
  void fail_run(std::string message);

  // Delivery (delivery.cpp).
  void try_deliver();
  void deliver(std::uint64_t seq, Flight& f);
  void start_streaming(std::uint64_t seq, Flight& f);
  void stream_bytes(Flight& f, Stream stream, std::string_view bytes, bool whole_lines);
  void close_delivery();
  void finish_line_buffer(Flight& f);
  void write_raw(int stream, const Output& out);
  void on_written(std::uint64_t seq);
  void hand_over(Delivered delivered);
  void record(const Delivered& delivered);
  /// Lets an item go without delivering it (interrupted, or past the end of the output).
  void release(Flight& f);
  /// Gives back the memory budget that f's captured output held.
  void uncount(Flight& f);
  /// One item of `batch` is done; the batch's pending unit is freed with its last item.
  void batch_item_done(std::uint64_t batch);
  bool may_stream(const Flight& f) const;
  std::size_t memory_limit() const;
  void resume_paused();

  Options m_options;
  CommandTemplate m_command;
  TemplateLaunch m_launch{m_command};
  /// The run's input: the Items' sources one after another (combinations included).
  std::unique_ptr<ItemSource> m_input;
  ColumnSplitter m_columns;
  std::unique_ptr<Pattern> m_header; ///< --header REGEX: what the header records must match.
  bool m_named = true;               ///< --header: the template knows the column names.
  std::unique_ptr<Grouper> m_grouper; ///< Several items per command (-n, -X, -m...).
  bool m_input_done = false;
  bool m_input_waiting = false; ///< A source would block; its descriptor is in the reactor.
  struct InputWatch final : Watcher {
    Engine* engine = nullptr;
    int fd = -1;
    void on_ready(std::uint32_t) override;
  } m_input_watch;
  std::uint64_t m_read = 0;

  std::optional<SigpipeGuard> m_sigpipe;
  Reactor m_reactor;
  SpillFactory m_spill;
  std::unique_ptr<Checkpoint> m_checkpoint;
  OccurrenceCounter m_occurrences;
  std::string m_key; ///< Scratch for item_key().
  std::unique_ptr<OutputWriter> m_writer;
  std::unique_ptr<Executor> m_executor;
  std::unique_ptr<SignalWatcher> m_signals;
  unsigned m_slots = 1;
  std::size_t m_max_pending = 0;
  BatchSizer m_sizer;
  RuntimeMedian m_runtimes;

  std::unordered_map<std::uint64_t, Flight> m_flights;
  std::unordered_map<std::uint64_t, std::size_t> m_batch_left; ///< Undelivered items per batch.
  std::uint64_t m_next_batch = 1;
  std::vector<unsigned> m_free_slots;
  std::unordered_set<unsigned> m_gone_slots; ///< Slots whose host is away (not counted).
  std::deque<std::uint64_t> m_retries;
  Batch m_staged; ///< Items read and not yet sent (at most about one batch).
  std::uint64_t m_replayed_seen = 0;
  std::size_t m_pending = 0; ///< Batches (and replayed items) not yet delivered.

  std::uint64_t m_next_seq = 1;   ///< Ordered mode: the next seq to deliver.
  std::deque<std::uint64_t> m_ready; ///< As-ready mode: ended items waiting for the writer.
  std::uint64_t m_streamer = 0;   ///< The item whose output goes straight through; 0 if none.
  bool m_delivery_closed = false; ///< Ordered mode: nothing more is delivered (prefix rule).
  std::unordered_map<std::uint64_t, Delivered> m_unwritten; ///< Waiting for the writer.
  std::unordered_set<std::uint64_t> m_paused;
  std::size_t m_buffered = 0; ///< Bytes of captured output held in memory.

  std::deque<Delivered> m_results;    ///< For the caller, not yet taken.
  std::optional<Delivered> m_unrecorded; ///< Taken, to record on next().

  Phase m_phase = Phase::running;
  bool m_stopping = false;
  std::uint64_t m_stop_from = UINT64_MAX;
  int m_signal = 0;
  int m_signal_count = 0;
  std::optional<Result> m_halt_result;
  std::optional<std::string> m_error;
  bool m_output_closed = false;
  /// Stop waiting for output to be written (the caller gave up, or a second signal came).
  bool m_abandoned = false;

  Progress m_progress;
  std::uint64_t m_run_ok = 0;
  std::uint64_t m_run_failed = 0;
  Clock::time_point m_start;
  Clock::time_point m_next_progress;
};

} // namespace parmap::detail
