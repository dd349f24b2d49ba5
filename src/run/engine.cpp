#include "run/engine.hpp"

#include "base/process_groups.hpp"
#include "exec/local/local_executor.hpp"
#include "exec/slurm/slurm_executor.hpp"
#include "exec/ssh/ssh_executor.hpp"
#include "exec/ssh/sshlogin.hpp"
#include "input/combine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace parmap::detail {
namespace {

using Seconds = std::chrono::duration<double>;

Clock::duration seconds(double s)
{
  return std::chrono::duration_cast<Clock::duration>(Seconds(s));
}

/// Throws OptionError for `field` unless ok; the message names Options members, not flags.
void require(bool ok, const char* field, const char* problem)
{
  if (!ok) {
    throw OptionError(field, fmt::format("Options::{} {}", field, problem));
  }
}

Options validated(Options o)
{
  require(o.batch_size >= 1, "batch_size", "must be at least 1");
  require(o.tail_batches_per_core >= 1, "tail_batches_per_core", "must be at least 1");
  require(o.tail_min_batch_size >= 1, "tail_min_batch_size", "must be at least 1");
  require(o.checkpoint_every >= 1, "checkpoint_every", "must be at least 1");
  require(std::isfinite(o.timeout) && o.timeout >= 0, "timeout",
          "must be a number of seconds, 0 or more");
  require(std::isfinite(o.timeout_percent) && o.timeout_percent >= 0, "timeout_percent",
          "must be a percentage, 0 or more");
  require(std::isfinite(o.kill_grace) && o.kill_grace >= 0, "kill_grace",
          "must not be negative");
  require(std::isfinite(o.delay) && o.delay >= 0, "delay", "must not be negative");
  require(o.halt.threshold > 0, "halt", "needs a threshold above 0");
  require(!o.replace.empty(), "replace", "must not be empty");
  require(!o.resume || !o.checkpoint.empty(), "resume", "needs Options::checkpoint");
  require(!o.retry_failed || o.resume, "retry_failed", "needs Options::resume");
  require(!o.force || o.resume, "force", "needs Options::resume");
  require(!(o.dry_run && !o.checkpoint.empty()), "dry_run",
          "runs nothing and cannot be used with Options::checkpoint");
  require(!o.remote.uses_slurm() || o.remote.sshlogins.empty(), "remote.slurm",
          "runs items in Slurm job steps and Options::remote.sshlogins on ssh hosts: choose one");
  require(!o.remote.on_all || !o.remote.sshlogins.empty(), "remote.on_all",
          "needs the hosts in Options::remote.sshlogins (\":\" is this machine)");
  bool captures = o.forward.format != Format::raw || o.forward.line_buffer || !o.results.empty();
  require(!(o.forward.ungroup && captures), "forward.ungroup",
          "captures no output: it goes with Format::raw only, without "
          "Options::forward.line_buffer or Options::results");
  require(!(o.forward.ungroup && o.forward.stdout_fd < 0), "forward.ungroup",
          "needs Options::forward.stdout_fd and Options::forward.stderr_fd");
  // A --round-robin job reads whatever blocks come when it is ready: no block is its own.
  require(!o.round_robin || o.checkpoint.empty(), "round_robin",
          "cannot be used with Options::checkpoint: its jobs do not get given blocks");
  require(!o.round_robin || o.retries == 0, "round_robin",
          "cannot be used with Options::retries: its jobs do not get given blocks");
  require(!o.round_robin || o.block_input != BlockInput::file, "round_robin",
          "cannot be used with Options::block_input file: a job's input ends only with the "
          "run's");
  // The command is shown in the joblog and the --results records.
  o.record_command = o.record_command || !o.joblog.empty() || !o.results.empty();
  return o;
}

/// How the command is read: its shell, spellings, whether its first word is a shell builtin
/// or exported function, which locally run through the shell, and whether it gets arguments
/// (a block goes to stdin: unless it is a file named by {} (--cat, --fifo), no argument).
TemplateOptions template_options(const Command& command, const Options& o, bool local,
                                 bool blocks)
{
  TemplateOptions t;
  t.shell = o.shell;
  t.append_args = !blocks || o.block_input != BlockInput::pipe;
  t.spellings.item = o.replace;
  t.several = o.grouping.context_replace ? Several::repeat : Several::words;
  t.shell_path = o.shell_path.empty() ? "/bin/sh" : o.shell_path;
  if (local && o.shell != Shell::always && !command.empty()) {
    CommandKind kind = classify_command(command.front(), snapshot_environment());
    t.through_shell = kind != CommandKind::program;
    if (kind == CommandKind::function && o.shell_path.empty()) {
      t.shell_path = "bash"; // only bash imports exported functions
    }
  }
  return t;
}

/// True when the items are blocks for the commands' stdin (--pipe, --pipepart).
bool gives_blocks(const Items& items)
{
  const auto& sources = ItemsAccess::sources(items);
  auto blocks = [](const auto& source) { return source->gives_blocks(); };
  bool any = std::any_of(sources.begin(), sources.end(), blocks);
  if (any && !std::all_of(sources.begin(), sources.end(), blocks)) {
    throw Error("blocks of input (Items::blocks) cannot be mixed with other items");
  }
  return any;
}
} // namespace

Engine::Engine(Command command, Items items, Options options, ExecutorFactory factory)
    : m_options(validated(std::move(options))),
      m_command(command, template_options(command, m_options, !factory, gives_blocks(items))),
      m_input(std::make_unique<SequenceSource>(ItemsAccess::sources(items))),
      m_columns(m_options.columns), m_blocks(gives_blocks(items)),
      m_spill(m_options.temp_dir), m_sizer(1, false, 1, 1, 1)
{
  require(!m_options.round_robin || m_blocks, "round_robin",
          "needs blocks of input (Items::blocks)");
  // The agents get commands, not blocks: a block stays on the machine that cut it.
  require(!m_blocks || !m_options.remote.runs_elsewhere() || m_options.dry_run,
          "remote.sshlogins", "cannot be used with blocks of input: they run on this machine");
  if (m_options.round_robin) {
    m_round_robin = std::make_shared<BlockQueue>();
  }
  m_local = !factory && (!m_options.remote.runs_elsewhere() || m_options.dry_run);
  std::string fewer; // warned about once there is a writer
  if (m_options.remote.on_all) {
    // One slot per host, in the order the ssh executor numbers them.
    m_on_all = hosts_in_slot_order(
        parse_sshlogins(m_options.remote.sshlogins, split_words(m_options.remote.ssh)));
  }
  m_slots = m_top_slot =
      m_on_all.empty() ? slots_for(m_options.jobs, fewer) : static_cast<unsigned>(m_on_all.size());
  m_input->use_slots(m_slots); // before count(): --pipepart --block -N cuts per slot

  const std::string& header = m_options.columns.header;
  if (!header.empty()) {
    m_input->take_headers(); // before count(): the headers are not items
    m_named = false;
    if (header != ":") {
      m_header = std::make_unique<Pattern>(header, "--header");
    }
  }
  // The length is known when every source can tell it before the run, and groups hold a fixed
  // number of items.
  auto total = command_count(m_input->count(), m_options.grouping);
  if (total && !m_on_all.empty()) {
    *total *= m_on_all.size(); // every command runs on every host
  }
  bool known = total.has_value();
  m_progress.known_total = known;
  m_progress.total = total.value_or(0);
  // Blocks are not spooled: a stream of them is read as the jobs take it, in bounded memory.
  require(!m_blocks || !m_options.shuffle, "shuffle",
          "cannot be used with blocks of input (Items::blocks)");
  if (!m_blocks && (m_options.shuffle || (m_options.read_ahead && !known))) {
    m_spool = std::make_unique<ItemSpool>(m_options.temp_dir, m_options.shuffle);
  }
  require(!m_options.halt.percent || known, "halt",
          "with a percentage needs items whose number is known before the run (a list, a "
          "regular file, or a generator given its count)");

  setup_checkpoint();
  bool reset_sigpipe = true;
  bool forward = m_options.forward.stdout_fd >= 0 || m_options.forward.stderr_fd >= 0;
  if (forward || m_blocks) {
    // Writing to a pipe whose reader is gone (stdout, a job's stdin) must be EPIPE, not death.
    m_sigpipe.emplace();
    reset_sigpipe = !m_sigpipe->was_ignored();
  }
  if (forward) {
    m_writer = std::make_unique<OutputWriter>(m_reactor, m_options.forward.stdout_fd,
                                              m_options.forward.stderr_fd);
    m_writer->set_on_written([this](std::uint64_t seq) { on_written(seq); });
    if (m_options.forward.on_terminal_output) {
      m_writer->watch_terminals(m_options.forward.on_terminal_output);
    }
  }
  if (auto warning = m_command.pasted_script_warning()) {
    warn(*warning);
  }
  if (m_checkpoint) {
    end_left_running();
  }
  if (!m_options.forward.tag_string.empty()) {
    m_tag_string.emplace(m_options.forward.tag_string);
  }
  TextTemplate results_name(m_options.results);
  if (results_name.has_replacement()) {
    m_results_name.emplace(std::move(results_name));
  }
  m_result_writer = std::make_unique<ResultWriter>(m_options, m_results_name.has_value(),
                                                   m_writer.get());
  m_result_writer->start();
  if (!fewer.empty()) {
    warn(fewer);
  }
  make_executor(std::move(factory), reset_sigpipe);
  m_max_pending = m_options.max_pending > 0 ? m_options.max_pending : m_slots + 16;
  m_sizer = BatchSizer(m_options.batch_size, m_options.adaptive_tail,
                       m_options.tail_batches_per_core, m_options.tail_min_batch_size, m_slots);
  if (groups_items(m_options.grouping)) {
    m_grouper = std::make_unique<Grouper>(m_options.grouping, m_command,
                                          exec_line_limit(snapshot_environment()), m_slots);
  }
  if (m_options.handle_signals) {
    m_signals = std::make_unique<SignalWatcher>(m_reactor, [this](int sig) { on_signal(sig); });
  }
  for (unsigned s = m_slots; s >= 1; --s) {
    m_free_slots.push_back(s); // the back is the lowest free slot
  }
  m_start = Clock::now();
  m_next_progress = m_start;
  m_next_jobs_poll = m_start + std::chrono::seconds(1);
}

void Engine::warn(const std::string& message)
{
  if (m_writer && m_options.forward.stderr_fd >= 0) {
    m_writer->write(1, "parmap: warning: " + message + "\n");
  }
}

Engine::~Engine()
{
  try {
    if (m_phase != Phase::done) {
      m_abandoned = true;
      if (!m_stopping) {
        begin_stop(0, SIGTERM);
      }
      while (m_phase != Phase::done) {
        m_results.clear(); // nobody will take them
        step();
      }
    }
    if (m_checkpoint) {
      m_checkpoint->commit();
    }
  } catch (...) {
    // Destructors must not throw; the executor's destructor still kills and reaps.
  }
}

void Engine::make_executor(ExecutorFactory factory, bool reset_sigpipe)
{
  if (factory) {
    m_executor = factory(m_reactor, m_command, *this, m_slots);
    m_local_slots = m_slots;
    return;
  }
  if (!m_local && m_options.remote.uses_slurm()) {
    // -j means steps; the allocation's task count when not given.
    auto steps = make_slurm_executor(m_reactor, m_launch, *this, m_options,
                                     m_options.jobs > 0 ? m_slots : 0);
    m_slots = m_top_slot = steps->slots();
    m_local_slots = 0;
    m_executor = std::move(steps);
    return;
  }
  LocalExecutorConfig config = local_config(reset_sigpipe);
  if (!m_local) {
    // -j means slots per host there, and each host's CPU count when not given.
    auto made = make_ssh_executor(m_reactor, m_launch, *this, m_options,
                                  m_options.jobs > 0 ? m_slots : 0, config);
    m_executor = std::move(made.executor);
    if (!m_on_all.empty() && made.slots != m_on_all.size()) {
      throw std::logic_error("Engine: --onall needs one slot per host");
    }
    m_slots = m_top_slot = made.slots;
    m_local_slots = made.local_slots;
    return;
  }
  config.slots = m_slots;
  m_executor = std::make_unique<LocalExecutor>(m_reactor, m_launch, *this, config);
}

LocalExecutorConfig Engine::local_config(bool reset_sigpipe) const
{
  LocalExecutorConfig config;
  config.kill_grace = m_options.kill_grace;
  config.delay = m_options.delay;
  config.null_stdin = m_options.null_stdin;
  config.reset_sigpipe = reset_sigpipe;
  config.dry_run = m_options.dry_run;
  config.verbose = m_options.verbose;
  if (m_options.forward.ungroup) {
    config.direct_out = m_options.forward.stdout_fd;
    config.direct_err = m_options.forward.stderr_fd;
  }
  config.nice = m_options.nice;
  config.work_dir = m_options.work_dir;
  config.temp_dir = m_options.temp_dir;
  config.block_input = m_options.block_input;
  return config;
}

void Engine::end_left_running()
{
  std::vector<RecordedGroup> recorded;
  for (const RunningItem& left : m_checkpoint->left_running()) {
    recorded.push_back(left.group);
  }
  std::vector<RecordedGroup> living = living_groups(recorded);
  if (m_writer) {
    for (const RecordedGroup& g : living) {
      m_writer->write(1, fmt::format("parmap: item {} is still running from an earlier run that "
                                     "was killed (process group {}): terminating it first\n",
                                     g.seq, g.pgid));
    }
    m_writer->pump();
  }
  // Their items may be among those to run now: two copies of one item must never run at once.
  terminate_groups(living, m_options.kill_grace);
  m_checkpoint->forget_left_running();
}

void Engine::setup_checkpoint()
{
  if (m_options.checkpoint.empty()) {
    return;
  }
  RunRecord run{m_command.text(), m_options.run_options, version()};
  run.shell = m_command.uses_shell();
  run.slots = m_slots;
  run.timeout = m_options.timeout;
  run.timeout_percent = m_options.timeout_percent;
  CheckpointMode mode;
  mode.resume = m_options.resume;
  mode.force = m_options.force;
  mode.retry_failed = m_options.retry_failed;
  mode.commit_every = m_options.checkpoint_every;
  m_checkpoint = std::make_unique<Checkpoint>(m_options.checkpoint, run, mode);
}

std::optional<Result> Engine::next()
{
  if (m_unrecorded) {
    // The caller asked for more, so it is done with the previous result.
    record(*m_unrecorded);
    m_unrecorded.reset();
  }
  while (m_results.empty() && m_phase != Phase::done) {
    step();
  }
  if (!m_results.empty()) {
    Delivered d = std::move(m_results.front());
    m_results.pop_front();
    if (m_checkpoint && !m_writer && !d.result.replayed) {
      m_unrecorded = d; // recorded once the caller is done with it (its next call)
    }
    return std::move(d.result);
  }
  if (m_error) {
    throw Error(*m_error);
  }
  if (m_signal != 0) {
    throw Interrupted(m_signal);
  }
  if (m_halt_result && m_options.halt.on == Halt::On::fail) {
    throw ItemFailed(*m_halt_result);
  }
  return std::nullopt;
}

Summary Engine::summary() const
{
  Summary s;
  s.counts = m_progress;
  s.counts.running = m_executor ? m_executor->running() : 0;
  s.counts.elapsed = Seconds(Clock::now() - m_start).count();
  s.halted = m_halt_result.has_value();
  if (m_halt_result) {
    s.stop_result = *m_halt_result;
  }
  s.halt = m_options.halt;
  s.failed_at_halt = m_failed_at_halt;
  s.output_closed = m_output_closed;
  return s;
}

bool Engine::finished() const
{
  bool writer_done = !m_writer || m_abandoned || m_writer->state() != WriteState::ok ||
                     (m_writer->idle() && m_unwritten.empty());
  return (input_exhausted() || m_stopping) && busy_slots() == 0 && m_flights.empty() &&
         m_retries.empty() && writer_done;
}

void Engine::service_writer()
{
  if (!m_writer) {
    return;
  }
  m_writer->pump();
  if (m_writer->state() == WriteState::closed && !m_output_closed) {
    m_output_closed = true;
    begin_stop(0, SIGTERM);
  } else if (m_writer->state() == WriteState::failed && !m_error) {
    fail_run(m_writer->error());
  }
  // Resume paused items whenever the backlog went down, before any wait: once the writer is
  // idle, nothing else would wake the loop for them.
  resume_paused();
}

void Engine::step()
{
  dispatch();
  service_writer();
  if (finished()) {
    m_phase = Phase::done;
    if (m_checkpoint) {
      m_checkpoint->commit();
    }
    if (m_options.on_progress) {
      m_options.on_progress(summary().counts);
    }
    return;
  }
  if (!m_results.empty() && !m_abandoned) {
    return; // the caller has results to take: waiting now could wait for nothing
  }
  std::optional<Clock::time_point> until;
  if (m_options.on_progress) {
    until = m_next_progress;
  }
  if (m_spool && fill_spool()) {
    until = Clock::now(); // more input is there to read: look, but do not wait
  }
  if (m_checkpoint) {
    auto due = m_checkpoint->deadline();
    if (due && (!until || *due < *until)) {
      until = due;
    }
  }
  if (m_options.jobs_update && (!until || m_next_jobs_poll < *until)) {
    until = m_next_jobs_poll;
  }
  std::vector<ExecutorEvent> events;
  m_executor->wait(until, events);
  for (auto& e : events) {
    handle(e);
  }
  service_writer();
  auto now = Clock::now();
  if (m_checkpoint) {
    m_checkpoint->tick(now);
  }
  if (m_options.jobs_update && now >= m_next_jobs_poll) {
    m_next_jobs_poll = now + std::chrono::seconds(1); // GNU parallel looks once a second too
    poll_jobs();
  }
  if (m_options.on_progress && now >= m_next_progress) {
    m_next_progress = now + seconds(std::max(0.01, m_options.progress_interval));
    m_options.on_progress(summary().counts);
  }
}

void Engine::handle(ExecutorEvent& event)
{
  if (auto* started = std::get_if<ItemStarted>(&event)) {
    on_started(*started);
  } else if (auto* ended = std::get_if<ItemEnded>(&event)) {
    on_ended(*ended);
  } else if (auto* free = std::get_if<SlotFree>(&event)) {
    on_slot_free(*free);
  } else if (auto* notice = std::get_if<ExecutorNotice>(&event)) {
    if (notice->fatal) {
      fail_run(notice->message);
    } else if (m_writer) {
      m_writer->write(1, "parmap: " + notice->message + "\n");
    }
  }
}

void Engine::on_slot_free(const SlotFree& free)
{
  m_busy.erase(free.slot);
  auto pos = std::upper_bound(m_free_slots.begin(), m_free_slots.end(), free.slot,
                              std::greater<>());
  if (free.gone) {
    if (m_gone_slots.insert(free.slot).second) {
      --m_slots; // its host is away: the run goes on without it
      if (pos != m_free_slots.begin() && *(pos - 1) == free.slot) {
        m_free_slots.erase(pos - 1);
      }
    }
    return;
  }
  if (m_gone_slots.erase(free.slot) > 0) {
    ++m_slots; // back with its host
  }
  if (free.slot <= m_top_slot) { // else -j FILE took it away
    m_free_slots.insert(pos, free.slot);
  }
}

void Engine::on_started(const ItemStarted& e)
{
  auto it = m_flights.find(e.seq);
  if (it == m_flights.end()) {
    return;
  }
  Flight& f = it->second;
  f.host = e.host;
  f.slot = e.slot;
  if (!f.started) {
    f.started = true;
    ++m_progress.started;
  }
  if (m_checkpoint && e.pgid > 0) {
    RecordedGroup group{e.pgid, e.leader_start, {}, e.seq};
    // Under its checkpoint key, as its result will be: a block's, or its arguments'.
    std::string key = f.key.empty() ? std::string(item_key(f.args, m_key)) : f.key;
    m_checkpoint->item_running(RunningItem{e.seq, std::move(key), f.occurrence, 0, std::move(group)});
  }
}

double Engine::item_timeout() const
{
  if (m_options.timeout_percent > 0) {
    auto median = m_runtimes.median();
    return median ? *median * m_options.timeout_percent / 100.0 : 0.0;
  }
  return m_options.timeout;
}

void Engine::on_ended(ItemEnded& e)
{
  if (m_checkpoint) {
    m_checkpoint->item_ended(e.seq);
  }
  auto it = m_flights.find(e.seq);
  if (it == m_flights.end()) {
    return;
  }
  Flight& f = it->second;
  if (e.lost && (!m_stopping || e.seq < m_stop_from)) {
    // Its host went away: not an attempt, not a result; it runs again, first in line.
    uncount(f);
    f.out.clear();
    f.err.clear();
    m_retries.push_front(e.seq);
    return;
  }
  if (e.interrupted || e.lost) {
    if (e.interrupted) {
      record_attempt(f, e);
    }
    f.ended = true;
    f.interrupted = true;
    if (m_streamer == e.seq) {
      m_streamer = 0;
    }
    if (m_options.order == Order::as_ready || m_delivery_closed) {
      release(f); // not a result: it runs again on resume
      m_flights.erase(it);
    }
    try_deliver();
    return;
  }
  if (e.status != Status::ok && f.attempt <= m_options.retries &&
      (!m_stopping || e.seq < m_stop_from)) {
    record_attempt(f, e); // before its output is dropped
    ++f.attempt;
    uncount(f);
    f.out.clear();
    f.err.clear();
    m_retries.push_back(e.seq);
    return;
  }
  f.result = make_result(f, e.seq, e);
  f.ended = true;
  f.block.reset(); // final: no retry needs it again
  if (e.status == Status::ok) {
    // Successes only, as GNU parallel does: quick failures would drag the limit down, and a
    // timed-out item's runtime is the limit itself, so counting it would shrink the limit on
    // every timeout.
    m_runtimes.add(e.duration);
  }
  ++m_progress.finished;
  if (!f.result->ok()) {
    ++m_progress.failed;
  }
  if (f.streaming && m_options.forward.line_buffer) {
    finish_line_buffer(e.seq, f);
  }
  if (m_options.order == Order::input && m_delivery_closed) {
    check_halt(*f.result);
    release(f); // past the end of the output: not delivered, not recorded
    m_flights.erase(it);
    return;
  }
  if (m_options.order == Order::as_ready) {
    if (f.streaming && m_streamer == e.seq) {
      m_ready.push_front(e.seq);
    } else {
      m_ready.push_back(e.seq);
    }
  }
  // Last: a halt delivers what it can at once, this item included, so `f` may be gone after.
  check_halt(*f.result);
  try_deliver();
}

void Engine::record_attempt(const Flight& f, const ItemEnded& e)
{
  if (!m_checkpoint || e.started == std::chrono::system_clock::time_point{}) {
    return; // no checkpoint, or dropped before it started
  }
  try {
    // Under its checkpoint key, as its result is (see record()): a block's, or its arguments'.
    std::string_view item = f.key.empty() ? item_key(f.args, m_key) : std::string_view(f.key);
    m_checkpoint->record_attempt(AttemptRecord{item, f.occurrence, e.seq, f.attempt, e.slot, e.host,
                                               e.step, e.status, e.interrupted, e.exit_code,
                                               e.signal, e.started, e.duration, f.out.size()});
  } catch (const Error& err) {
    if (!m_error) {
      fail_run(err.what()); // as when a result cannot be recorded
    }
  }
}

Result Engine::make_result(Flight& f, std::uint64_t seq, const ItemEnded& e)
{
  Result r;
  r.seq = seq;
  r.args = f.args;
  r.item = joined(f.args, ' ');
  r.status = e.status;
  r.exit_code = e.exit_code;
  r.signal = e.signal;
  r.out = f.out.finish();
  r.err = f.err.finish();
  r.started = e.started;
  r.duration = e.duration;
  r.attempts = f.attempt;
  r.slot = e.slot;
  r.host = e.host;
  r.step = e.step;
  if (m_options.record_command) {
    r.command = m_command.display(RenderContext{f.args, seq, e.slot});
  }
  return r;
}

void Engine::check_halt(const Result& r)
{
  if (r.replayed) {
    return; // fail-fast is about this run's failures; a resumed run finishes the rest
  }
  r.ok() ? ++m_run_ok : ++m_run_failed;
  const Halt& h = m_options.halt;
  if (h.when == Halt::When::never) {
    return;
  }
  bool matches = h.on == Halt::On::done || (h.on == Halt::On::fail) == !r.ok();
  if (!matches) {
    return;
  }
  std::uint64_t count = h.on == Halt::On::fail      ? m_run_failed
                        : h.on == Halt::On::success ? m_run_ok
                                                    : m_run_ok + m_run_failed;
  double threshold =
      h.percent ? std::ceil(h.threshold / 100.0 * static_cast<double>(m_progress.total)) : h.threshold;
  if (static_cast<double>(count) < std::max(1.0, threshold)) {
    return;
  }
  bool ordered = m_options.order == Order::input;
  if (m_halt_result) {
    // Already halting. In input order an earlier failure takes over: the output must stop there.
    if (!ordered || h.on != Halt::On::fail || r.seq >= m_halt_result->seq) {
      return;
    }
  }
  if (!m_halt_result) {
    m_failed_at_halt = m_run_failed;
  }
  m_halt_result = r;
  int signal = h.when == Halt::When::now ? SIGTERM : 0;
  begin_stop(ordered ? r.seq + 1 : 0, signal);
}

void Engine::begin_stop(std::uint64_t from_seq, int signal)
{
  m_stopping = true;
  m_stop_from = std::min(m_stop_from, from_seq);
  if (m_round_robin) {
    m_round_robin->close(); // jobs still running (--halt soon) see the end of their input
  }
  m_executor->cancel(m_stop_from, signal);
  // Staged items and retries past the stop point will not run: they end as interrupted.
  std::vector<std::uint64_t> dropped;
  std::erase_if(m_retries, [&](std::uint64_t seq) {
    bool drop = seq >= m_stop_from;
    if (drop) {
      dropped.push_back(seq);
    }
    return drop;
  });
  for (auto& item : m_staged.items) {
    dropped.push_back(item.seq);
  }
  m_staged.items.clear();
  for (std::uint64_t seq : dropped) {
    ItemEnded end;
    end.seq = seq;
    end.interrupted = true;
    on_ended(end);
  }
  try_deliver();
}

void Engine::on_signal(int signal)
{
  if (is_job_control_signal(signal)) {
    suspend(signal);
    return;
  }
  if (++m_signal_count == 1) {
    m_signal = signal;
    // Items get SIGINT, SIGTERM and SIGHUP as they are (what the terminal or a service manager
    // would have sent them); the rest become SIGTERM: an item may use SIGUSR1 for something
    // else, and SIGQUIT would make every item dump core.
    bool pass_on = signal == SIGINT || signal == SIGTERM || signal == SIGHUP;
    begin_stop(0, pass_on ? signal : SIGTERM); // then SIGKILL after the grace
    watch_for_stalled_output();
    return;
  }
  m_abandoned = true; // a second signal: do not wait for anything any more
  m_executor->kill_all();
}

void Engine::suspend(int signal)
{
  // The items lead process groups of their own, out of reach of the terminal's Ctrl-Z: stop
  // them, then parmap as the terminal would have; once continued, the same in reverse. The
  // time stopped does not count against --timeout or --kill-grace.
  m_executor->stop_all();
  auto stopped_at = Clock::now();
  m_signals->stop_self(signal);
  m_reactor.postpone(Clock::now() - stopped_at);
  m_executor->continue_all();
}

void Engine::watch_for_stalled_output()
{
  // After a terminating signal, output that nobody reads must not hold parmap: once stdout (or
  // stderr) has taken no byte for a whole --kill-grace, what is not written is given up (and
  // not recorded, so it runs again on resume).
  if (!m_writer) {
    return;
  }
  std::uint64_t written = m_writer->bytes_written();
  // (Not more often than 20 times a second, should the grace be 0.)
  m_reactor.at(Clock::now() + seconds(std::max(m_options.kill_grace, 0.05)), [this, written] {
    if (!m_writer->idle() && m_writer->bytes_written() == written) {
      m_abandoned = true;
    } else {
      watch_for_stalled_output();
    }
  });
}

void Engine::fail_run(std::string message)
{
  m_error = std::move(message);
  m_abandoned = true;
  begin_stop(0, SIGTERM);
}

} // namespace parmap::detail
