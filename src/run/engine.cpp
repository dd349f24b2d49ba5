#include "run/engine.hpp"

#include "exec/local/local_executor.hpp"
#include "exec/ssh/ssh_executor.hpp"
#include "input/combine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace parmap::detail {
namespace {

using Seconds = std::chrono::duration<double>;

void require(bool ok, const std::string& message)
{
  if (!ok) {
    throw Error(message);
  }
}

Options validated(Options o)
{
  require(o.batch_size >= 1, "--batch-size must be at least 1");
  require(o.tail_batches_per_core >= 1, "--tail-batches-per-core must be at least 1");
  require(o.tail_min_batch_size >= 1, "--tail-min-batch-size must be at least 1");
  require(o.checkpoint_every >= 1, "--checkpoint-every must be at least 1");
  require(std::isfinite(o.timeout) && o.timeout >= 0, "--timeout must be a positive number");
  require(std::isfinite(o.timeout_percent) && o.timeout_percent >= 0,
          "--timeout N% must be a positive percentage");
  require(std::isfinite(o.kill_grace) && o.kill_grace >= 0, "--kill-grace must not be negative");
  require(std::isfinite(o.delay) && o.delay >= 0, "--delay must not be negative");
  require(o.halt.threshold > 0, "--halt needs a count or percentage above 0");
  require(!o.replace.empty(), "-I needs a replacement string");
  require(!o.resume || !o.checkpoint.empty(), "--resume needs --checkpoint");
  require(!o.retry_failed || o.resume, "--retry-failed needs --resume");
  require(!o.force || o.resume, "--force needs --resume");
  require(!(o.dry_run && !o.checkpoint.empty()),
          "--dry-run runs nothing and cannot be used with --checkpoint");
  bool captures = o.forward.format != Format::raw || o.forward.line_buffer || !o.results.empty();
  require(!(o.forward.ungroup && captures),
          "Options::forward.ungroup captures no output: it goes with Format::raw only, without "
          "line_buffer or results");
  require(!(o.forward.ungroup && o.forward.stdout_fd < 0),
          "Options::forward.ungroup needs forward.stdout_fd and forward.stderr_fd");
  // The command is shown in the joblog and the --results records.
  o.record_command = o.record_command || !o.joblog.empty() || !o.results.empty();
  return o;
}

/// How the command is read: its shell, spellings, and whether its first word is a shell builtin
/// or exported function, which locally run through the shell.
TemplateOptions template_options(const Command& command, const Options& o, bool local)
{
  TemplateOptions t;
  t.shell = o.shell;
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

} // namespace

Engine::Engine(Command command, Items items, Options options, ExecutorFactory factory)
    : m_options(validated(std::move(options))),
      m_command(command, template_options(command, m_options, !factory)),
      m_input(std::make_unique<SequenceSource>(ItemsAccess::sources(items))),
      m_columns(m_options.columns), m_spill(m_options.temp_dir), m_sizer(1, false, 1, 1, 1)
{
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
  bool known = total.has_value();
  m_progress.known_total = known;
  m_progress.total = total.value_or(0);
  if (m_options.shuffle || (m_options.read_ahead && !known)) {
    m_spool = std::make_unique<ItemSpool>(m_options.temp_dir, m_options.shuffle);
  }
  require(!m_options.halt.percent || known,
          "--halt with a percentage needs an input of known length (files or :::)");

  setup_checkpoint();
  bool reset_sigpipe = true;
  if (m_options.forward.stdout_fd >= 0 || m_options.forward.stderr_fd >= 0) {
    m_sigpipe.emplace();
    reset_sigpipe = !m_sigpipe->was_ignored();
    m_writer = std::make_unique<OutputWriter>(m_reactor, m_options.forward.stdout_fd,
                                              m_options.forward.stderr_fd);
    m_writer->set_on_written([this](std::uint64_t seq) { on_written(seq); });
    if (auto warning = m_command.pasted_script_warning()) {
      m_writer->write(1, "parmap: warning: " + *warning + "\n");
    }
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
  std::string fewer;
  m_local = !factory && (m_options.remote.sshlogins.empty() || m_options.dry_run);
  m_slots = slots_for(m_options.jobs, fewer);
  m_top_slot = m_slots;
  if (!fewer.empty()) {
    warn(fewer);
  }
  if (factory) {
    m_executor = factory(m_reactor, m_command, *this, m_slots);
    return;
  }
  LocalExecutorConfig config = local_config(reset_sigpipe);
  if (!m_local) {
    // -j means slots per host there, and each host's CPU count when not given.
    auto made = make_ssh_executor(m_reactor, m_launch, *this, m_options,
                                  m_options.jobs > 0 ? m_slots : 0, config);
    m_executor = std::move(made.executor);
    m_slots = m_top_slot = made.slots;
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
  return config;
}

void Engine::setup_checkpoint()
{
  if (m_options.checkpoint.empty()) {
    return;
  }
  RunRecord run{m_command.text(), m_options.run_options, version()};
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
    m_next_progress = now + std::chrono::duration_cast<Clock::duration>(
                                Seconds(std::max(0.01, m_options.progress_interval)));
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
    ++f.attempt;
    uncount(f);
    f.out.clear();
    f.err.clear();
    m_retries.push_back(e.seq);
    return;
  }
  f.result = make_result(f, e.seq, e);
  f.ended = true;
  m_runtimes.add(e.duration);
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
  if (++m_signal_count == 1) {
    m_signal = signal;
    begin_stop(0, signal); // the items get the same signal, then SIGKILL after the grace
    return;
  }
  m_abandoned = true; // a second signal: do not wait for anything any more
  m_executor->kill_all();
}

void Engine::fail_run(std::string message)
{
  m_error = std::move(message);
  m_abandoned = true;
  begin_stop(0, SIGTERM);
}

} // namespace parmap::detail
