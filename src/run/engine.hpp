// Engine: one run. Pulls items, dispatches batches to an executor, routes output, delivers
// results in order (or as ready), records them in the checkpoint, and stops cleanly.
#pragma once

#include "store/checkpoint.hpp"
#include "exec/command.hpp"
#include "run/dispatch.hpp"
#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "exec/local/local_executor.hpp"
#include "output/format.hpp"
#include "output/result_writer.hpp"
#include "input/input.hpp"
#include "input/spool.hpp"
#include "parmap/parmap.hpp"
#include "base/reactor.hpp"
#include "base/signals.hpp"
#include "output/spill.hpp"
#include "output/writer.hpp"
#include "input/columns.hpp"
#include "run/grouping.hpp"

#include <climits>
#include <deque>
#include <memory>
#include <optional>
#include <set>
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
    /// --pipe: the item's block, kept until its result is final (a retry gives it again).
    std::shared_ptr<const Block> block;
    /// --pipe with a checkpoint: the block's key there (an item's key is its text).
    std::string key;
    std::uint64_t batch = 0;
    unsigned attempt = 1;
    unsigned slot = 0; ///< The slot it runs on, once sent.
    unsigned pin = 0;  ///< --onall: the slot of the host it must run on; 0: any.
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
    std::string key; ///< The checkpoint key when it is not the item's text (a block's).
  };
  enum class Phase { running, done };

  /// Makes the executor (a test's, the ssh one for --sshlogin, else the local one) and sets
  /// the number of slots.
  void make_executor(ExecutorFactory factory, bool reset_sigpipe);
  /// The local executor's settings from the options.
  LocalExecutorConfig local_config(bool reset_sigpipe) const;
  void setup_checkpoint();
  void step();
  void service_writer();
  bool finished() const;
  void dispatch();
  /// --onall: every free slot takes the first item pinned to it (retries first).
  void dispatch_pinned();
  void pull_ahead(std::size_t want);
  /// Takes a record read from the input as the item `seq`: replays its stored result, or
  /// stages it to run (pinned to a host's slot with --onall). False when the run failed.
  bool admit(Record record, unsigned pin);
  /// The next item to run, from the spool when there is one; false when none is there now.
  bool pull_item(Record& record);
  /// The next item from the sources, in input order, split into columns.
  ItemSource::Pull pull_source(Record& record);
  /// Reads the input ahead into the spool, a bounded number of items; true when more could
  /// be read at once (the loop must not wait).
  bool fill_spool();
  /// The next command's arguments: one item, or a group of them (-n, -X, -m...).
  bool pull_group(Record& group);
  /// --header: the first records read name the columns ({name} in the template).
  void name_columns();
  /// Every item was read and grouped: nothing more will come from the input.
  bool input_exhausted() const { return m_input_done && (!m_grouper || m_grouper->empty()); }
  /// The block's checkpoint key; nullopt (the run fails) when its bytes cannot be read.
  std::optional<std::string> checkpoint_key(const Block& block);
  // --round-robin (engine_dispatch.cpp).
  void feed_round_robin();
  void pull_round_robin();
  void add_replay(std::uint64_t seq, Record& record, std::uint64_t occurrence, Result stored,
                  unsigned pin);
  /// The item that runs `seq` again (a retry, or one lost with its host).
  Item retry_item(std::uint64_t seq);
  /// Sends items read from the input to `slot` as a new batch (one pending unit).
  void send_new_batch(unsigned slot, Batch batch);
  /// Starts a batch on the free slot `slot`, each item with the current timeout.
  void start_batch_on(unsigned slot, Batch batch);
  bool slot_is_free(unsigned slot) const;
  std::optional<std::uint64_t> unsent_items() const;
  std::size_t busy_slots() const { return m_busy.size(); }
  /// A slot may take a batch: one is free, and fewer than the slot count are busy (after
  /// the count shrank, busy slots above it finish first).
  bool can_start() const { return !m_free_slots.empty() && busy_slots() < m_slots; }
  /// The slots for `asked` jobs (0: the CPUs); when fewer, `fewer` is the warning that says so.
  unsigned slots_for(std::size_t asked, std::string& fewer) const;
  /// Makes the run use `slots` slots from now on.
  void set_slots(unsigned slots);
  /// Options::jobs_update: applies a new job count, or warns.
  void poll_jobs();
  /// A line on stderr, "parmap: warning: ...", when the run writes to stderr.
  void warn(const std::string& message);
  double item_timeout() const;
  void handle(ExecutorEvent& event);
  void on_started(const ItemStarted& e);
  /// A slot is free again, or gone with its host (or back with it).
  void on_slot_free(const SlotFree& free);
  void on_ended(ItemEnded& e);
  Result make_result(Flight& f, std::uint64_t seq, const ItemEnded& e);
  /// Adds an attempt that is not a result (retried, or interrupted) to the run history.
  void record_attempt(const Flight& f, const ItemEnded& e);
  void check_halt(const Result& r);
  void begin_stop(std::uint64_t from_seq, int signal);
  void on_signal(int signal);
  /// Job control: stops the items and parmap with `signal`; returns once continued.
  void suspend(int signal);
  /// Gives up unwritten output once stdout stops taking bytes for a --kill-grace.
  void watch_for_stalled_output();
  /// Terminates the process groups an earlier run that died left running (from the checkpoint).
  void end_left_running();
  void fail_run(std::string message);

  // Delivery (delivery.cpp).
  void try_deliver();
  void deliver(std::uint64_t seq, Flight& f);
  void start_streaming(std::uint64_t seq, Flight& f);
  void stream_bytes(std::uint64_t seq,
                    Flight& f,
                    Stream stream,
                    std::string_view bytes,
                    bool whole_lines);
  void close_delivery();
  void finish_line_buffer(std::uint64_t seq, Flight& f);
  /// What the output needs to know of a result besides the Result.
  ResultLabels labels(const Result& r) const;
  /// The --tag / --tagstring prefix of an item's lines, TAB included.
  std::string tag_of(std::span<const std::string> args, std::uint64_t seq, unsigned slot) const;
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
  /// Items read ahead of dispatch (Options::read_ahead on input of unknown length, shuffle).
  std::unique_ptr<ItemSpool> m_spool;
  bool m_input_done = false;
  bool m_input_waiting = false; ///< A source would block; its descriptor is in the reactor.
  struct InputWatch final : Watcher {
    Engine* engine = nullptr;
    int fd = -1;
    void on_ready(std::uint32_t) override;
  } m_input_watch;
  std::uint64_t m_read = 0;
  bool m_blocks = false; ///< Items are blocks for the commands' stdin (--pipe, --pipepart).
  /// --round-robin: the blocks waiting for the first job ready for one; null otherwise.
  std::shared_ptr<BlockQueue> m_round_robin;

  std::optional<SigpipeGuard> m_sigpipe;
  Reactor m_reactor;
  SpillFactory m_spill;
  std::unique_ptr<Checkpoint> m_checkpoint;
  OccurrenceCounter m_occurrences;
  std::string m_key; ///< Scratch for item_key().
  std::unique_ptr<OutputWriter> m_writer;
  std::unique_ptr<ResultWriter> m_result_writer;
  std::optional<TextTemplate> m_tag_string;   ///< forward.tag_string, parsed.
  std::optional<TextTemplate> m_results_name; ///< Options::results, when templated.
  std::unique_ptr<Executor> m_executor;
  bool m_local = true; ///< The executor is the LocalExecutor (bound by the open-file limit).
  /// Slots up to this one run on this machine (the ssh executor numbers them first); items
  /// on the others may be lost with their host and run again, so they never stream.
  unsigned m_local_slots = UINT_MAX;
  /// --onall: the hosts, one slot each (slot i + 1 is m_on_all[i]); empty otherwise.
  std::vector<std::string> m_on_all;
  std::unique_ptr<SignalWatcher> m_signals;
  unsigned m_slots = 1;
  std::size_t m_max_pending = 0;
  BatchSizer m_sizer;
  RuntimeMedian m_runtimes;

  std::unordered_map<std::uint64_t, Flight> m_flights;
  std::unordered_map<std::uint64_t, std::size_t> m_batch_left; ///< Undelivered items per batch.
  std::uint64_t m_next_batch = 1;
  std::vector<unsigned> m_free_slots; ///< Free slots up to m_top_slot, highest first.
  std::set<unsigned> m_busy;          ///< Slots with a batch.
  std::unordered_set<unsigned> m_gone_slots; ///< Slots whose host is away (not counted).
  /// The highest slot number in use (-j FILE moves it; m_slots is that less the gone slots).
  unsigned m_top_slot = 0;
  Clock::time_point m_next_jobs_poll;
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
  std::uint64_t m_failed_at_halt = 0; ///< m_run_failed when the halt was triggered.
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
