// The input side of the engine: pulling items (or reading them ahead into the spool), replaying
// stored ones, forming batches and starting them on slots, whose number may change mid-run.
#include "run/engine.hpp"

#include "exec/local/local_executor.hpp"

#include <fmt/format.h>

#include <iterator>

#include <sys/epoll.h>

namespace parmap::detail {
namespace {

/// The most slots a run has, whatever -j asks.
constexpr std::size_t k_max_slots = 100000;

} // namespace

void Engine::InputWatch::on_ready(std::uint32_t)
{
  engine->m_reactor.remove(fd, this);
  engine->m_input_waiting = false;
}

void Engine::dispatch()
{
  if (!m_on_all.empty()) {
    dispatch_pinned();
    return;
  }
  if (m_round_robin) {
    feed_round_robin();
  }
  // Retries go first, each alone; when stopping, those before the stop point still run.
  while (can_start() && !m_retries.empty()) {
    std::uint64_t seq = m_retries.front();
    m_retries.pop_front();
    Batch batch;
    batch.items.push_back(retry_item(seq));
    start_batch_on(m_free_slots.back(), std::move(batch));
  }
  while (!m_stopping && can_start() && m_pending < m_max_pending) {
    // The batch's size is decided now, when it goes out, from what is in flight now.
    std::size_t size = m_sizer.next(busy_slots(), unsent_items());
    pull_ahead(size);
    if (m_staged.items.empty()) {
      return;
    }
    // Short of `size` only when the input has nothing more to give now: send what there is
    // rather than wait for a full batch.
    Batch batch;
    auto end = m_staged.items.begin() +
               static_cast<std::ptrdiff_t>(std::min(size, m_staged.items.size()));
    std::move(m_staged.items.begin(), end, std::back_inserter(batch.items));
    m_staged.items.erase(m_staged.items.begin(), end);
    send_new_batch(m_free_slots.back(), std::move(batch));
  }
  // No slot is free: read one batch ahead anyway, so that items replayed from the checkpoint
  // are delivered without waiting for a slot.
  if (!m_stopping && m_pending < m_max_pending) {
    pull_ahead(m_sizer.current());
  }
}

void Engine::pull_ahead(std::size_t want)
{
  if (m_round_robin) {
    pull_round_robin();
    return;
  }
  // Replayed results are handed over at once and free their pending unit at once, so also stop
  // while the caller has results to take: otherwise a long run of stored items would all be
  // replayed into memory before the caller sees the first.
  while (m_staged.items.size() < want && !input_exhausted() && !m_stopping &&
         m_pending < m_max_pending && m_results.size() < m_max_pending) {
    Record record;
    if (!pull_group(record)) {
      return;
    }
    if (m_on_all.empty()) {
      if (!admit(std::move(record), 0)) {
        return;
      }
      continue;
    }
    // --onall: the command runs once on each host, an item of its own for each; the copies'
    // occurrence numbers tell them apart in the checkpoint.
    for (unsigned pin = 1; pin <= m_on_all.size(); ++pin) {
      if (!admit(pin < m_on_all.size() ? record : std::move(record), pin)) {
        return;
      }
    }
  }
}

bool Engine::admit(Record record, unsigned pin)
{
  std::uint64_t seq = ++m_read;
  std::uint64_t occurrence = 0;
  std::string key;
  // --onall: where it runs is known now (its output is held unless this machine runs it).
  const std::string& host = pin == 0 || m_on_all[pin - 1] == ":" ? std::string() : m_on_all[pin - 1];
  if (m_checkpoint) {
    auto block_key = record.block ? checkpoint_key(*record.block) : std::string();
    if (!block_key) {
      return false;
    }
    key = std::move(*block_key);
    std::string_view k = record.block ? std::string_view(key) : item_key(record.args, m_key);
    occurrence = m_occurrences.next(k);
    // Once every stored result has been replayed (or there were none), no lookup can hit.
    bool may_hit = m_replayed_seen < m_checkpoint->replayable();
    std::optional<Result> stored;
    try {
      stored = may_hit ? m_checkpoint->lookup(k, occurrence, m_spill) : std::nullopt;
    } catch (const Error& e) {
      m_input_done = true; // a checkpoint that fails to read (damaged mid-run) ends the run
      fail_run(e.what());
      return false;
    }
    if (stored && pin != 0 && stored->host != host) {
      m_input_done = true;
      fail_run(fmt::format(
          "--resume: '{}' ran on {} in the checkpoint, and this run puts that copy on {}: "
          "resume an --onall run with the same hosts, in the same order",
          joined(record.args, ' '), stored->host.empty() ? ":" : stored->host,
          m_on_all[pin - 1]));
      return false;
    }
    if (stored) {
      add_replay(seq, record, occurrence, std::move(*stored), pin);
      return true;
    }
  }
  Flight& f = m_flights[seq];
  f.args = record.args;
  f.oversize = record.oversize;
  f.occurrence = occurrence;
  f.block = record.block;
  f.key = std::move(key);
  f.pin = f.slot = pin;
  f.host = host;
  Item item;
  item.seq = seq;
  item.args = std::move(record.args);
  item.oversize = record.oversize;
  item.block = std::move(record.block);
  m_staged.items.push_back(std::move(item));
  return true;
}

void Engine::dispatch_pinned()
{
  // An item retried, or lost with its host, waits for that host's slot; retries go first.
  for (auto it = m_retries.begin(); it != m_retries.end();) {
    unsigned pin = m_flights[*it].pin;
    if (!slot_is_free(pin)) {
      ++it;
      continue;
    }
    Batch batch;
    batch.items.push_back(retry_item(*it));
    it = m_retries.erase(it);
    start_batch_on(pin, std::move(batch));
  }
  // Every host runs its own items in input order; one that is ahead reads on, so far: the
  // items staged for the others are bounded as the results pending are.
  std::size_t most_staged = m_max_pending + m_on_all.size();
  while (!m_stopping && !m_free_slots.empty() && m_pending < m_max_pending) {
    auto& staged = m_staged.items;
    auto next = std::find_if(staged.begin(), staged.end(),
                             [this](const Item& i) { return slot_is_free(m_flights[i.seq].pin); });
    if (next != staged.end()) {
      unsigned pin = m_flights[next->seq].pin;
      Batch batch;
      batch.items.push_back(std::move(*next));
      staged.erase(next);
      send_new_batch(pin, std::move(batch));
      continue;
    }
    std::size_t before = staged.size();
    if (before >= most_staged) {
      return;
    }
    pull_ahead(before + 1);
    if (staged.size() == before) {
      return; // nothing more to read now
    }
  }
}

Item Engine::retry_item(std::uint64_t seq)
{
  const Flight& f = m_flights.at(seq);
  Item item;
  item.seq = seq;
  item.args = f.args;
  item.oversize = f.oversize;
  item.block = f.block; // the same block again
  return item;
}

void Engine::send_new_batch(unsigned slot, Batch batch)
{
  std::uint64_t id = m_next_batch++;
  for (const auto& item : batch.items) {
    m_flights[item.seq].batch = id;
  }
  m_batch_left[id] = batch.items.size();
  ++m_pending;
  start_batch_on(slot, std::move(batch));
}

std::optional<std::string> Engine::checkpoint_key(const Block& block)
{
  try {
    return block.key();
  } catch (const Error& e) {
    m_input_done = true;
    fail_run(e.what()); // the file changed under the run: its blocks cannot be trusted
    return std::nullopt;
  }
}

void Engine::feed_round_robin()
{
  // One block waits for a job (whatever --max-pending says: the running jobs need their input
  // to end at all). While a slot is free it starts a new job, so that blocks spread over every
  // slot; then it goes to the job that has waited longest for one.
  while (!m_round_robin->has_pending() && !m_input_done && !m_input_waiting && !m_stopping) {
    Record record;
    if (!pull_item(record)) {
      break;
    }
    bool new_job = !m_free_slots.empty() && m_pending < m_max_pending;
    m_round_robin->push(std::move(record.block), !new_job);
  }
  if (m_input_done) {
    m_round_robin->close();
  }
}

void Engine::pull_round_robin()
{
  // A block that waits starts another job, while a slot is free: at most one job per slot,
  // and none for an input that ended.
  feed_round_robin();
  if (m_round_robin->has_pending() && m_staged.items.empty() && !m_free_slots.empty()) {
    Item job;
    job.seq = ++m_read;
    job.block_queue = m_round_robin;
    m_flights[job.seq]; // a job's text is empty, as in GNU parallel
    m_staged.items.push_back(std::move(job));
  }
}

bool Engine::pull_group(Record& group)
{
  if (!m_grouper) {
    return pull_item(group);
  }
  while (!m_grouper->ready()) {
    Record record;
    if (pull_item(record)) {
      m_grouper->add(std::move(record));
    } else if (m_input_done) {
      m_grouper->finish();
      break;
    } else {
      return false; // waiting for input
    }
  }
  if (!m_grouper->ready()) {
    return false;
  }
  group = m_grouper->take();
  return true;
}

void Engine::name_columns()
{
  // The headers were read with the first item (or the end of an empty input).
  std::vector<std::string> names;
  m_input->append_headers(names);
  for (const auto& name : names) {
    // Perl's '.*' stops before the newline, '.*\n' takes it: either names the first line.
    if (m_header && !m_header->matches_all(name) && !m_header->matches_all(name + "\n")) {
      throw Error("--header: the first record '" + name + "' does not match '" +
                  m_options.columns.header + "'");
    }
  }
  m_columns.apply(names);
  TemplateOptions t = m_command.options();
  t.spellings.columns = std::move(names);
  m_command = CommandTemplate(m_command.words(), std::move(t));
  m_named = true;
}

bool Engine::pull_item(Record& record)
{
  if (m_spool) {
    fill_spool();
    if (m_spool->take(record)) {
      return true;
    }
    m_input_done = m_spool->input_ended();
    return false;
  }
  switch (pull_source(record)) {
  case ItemSource::Pull::item:
    return true;
  case ItemSource::Pull::end:
    m_input_done = true;
    return false;
  case ItemSource::Pull::wait:
    return false;
  }
  return false;
}

ItemSource::Pull Engine::pull_source(Record& record)
{
  if (m_input_waiting) {
    return ItemSource::Pull::wait; // until the reactor says the descriptor is readable
  }
  try {
    ItemSource::Pull pull = m_input->next(record);
    if (pull != ItemSource::Pull::wait && !m_named) {
      name_columns();
    }
    switch (pull) {
    case ItemSource::Pull::item:
      if (auto warning = m_input->take_warning(); warning && m_writer) {
        m_writer->write(1, "parmap: " + *warning + "\n");
      }
      m_columns.apply(record.args);
      return pull;
    case ItemSource::Pull::end:
      break;
    case ItemSource::Pull::wait:
      m_input_waiting = true;
      m_input_watch.engine = this;
      m_input_watch.fd = m_input->wait_fd();
      m_reactor.add(m_input_watch.fd, EPOLLIN, &m_input_watch);
      return pull;
    }
  } catch (const Error& e) {
    fail_run(e.what());
  }
  return ItemSource::Pull::end;
}

bool Engine::fill_spool()
{
  // A bounded number per step, so that a long input does not hold up the items running.
  constexpr int k_items_per_step = 4096;
  Record record;
  for (int n = 0; n < k_items_per_step && !m_spool->input_ended() && !m_stopping; ++n) {
    switch (pull_source(record)) {
    case ItemSource::Pull::item:
      m_spool->put(record);
      continue;
    case ItemSource::Pull::wait:
      return false;
    case ItemSource::Pull::end:
      m_spool->end_of_input();
      // Now the total is known: progress shows it, and the adaptive tail can start.
      if (auto total = command_count(m_spool->count(), m_options.grouping)) {
        m_progress.known_total = true;
        m_progress.total = *total;
      }
      return false;
    }
  }
  return !m_spool->input_ended() && !m_stopping;
}

void Engine::add_replay(std::uint64_t seq, Record& record, std::uint64_t occurrence, Result stored,
                        unsigned pin)
{
  Flight& f = m_flights[seq];
  f.args = std::move(record.args);
  f.occurrence = occurrence;
  f.pin = pin;
  f.batch = m_next_batch++;
  m_batch_left[f.batch] = 1;
  ++m_pending;
  stored.seq = seq;
  stored.args = f.args;
  stored.item = joined(f.args, ' ');
  stored.replayed = true;
  stored.slot = pin; // --onall: its host's (--tag names it); 0: none
  if (m_options.record_command) {
    stored.command = m_command.display(RenderContext{f.args, seq, 0});
  }
  ++m_progress.finished;
  ++m_progress.replayed;
  if (!stored.ok()) {
    ++m_progress.failed;
  }
  ++m_replayed_seen;
  f.result = std::move(stored);
  f.ended = true;
  if (m_options.order == Order::as_ready) {
    m_ready.push_back(seq);
  }
  try_deliver();
}

std::optional<std::uint64_t> Engine::unsent_items() const
{
  if (!m_progress.known_total) {
    return std::nullopt;
  }
  // Not yet read, plus read but not yet sent.
  std::uint64_t total = m_progress.total;
  std::uint64_t unread = (total > m_read ? total - m_read : 0) + m_staged.items.size();
  if (m_checkpoint) {
    // Stored results still to come are replayed, not run: they are not work left.
    std::uint64_t replays_left = m_checkpoint->replayable() > m_replayed_seen
                                     ? m_checkpoint->replayable() - m_replayed_seen
                                     : 0;
    unread -= std::min(unread, replays_left);
  }
  return unread;
}

void Engine::start_batch_on(unsigned slot, Batch batch)
{
  std::erase(m_free_slots, slot);
  m_busy.insert(slot);
  double timeout = item_timeout();
  for (auto& item : batch.items) {
    item.timeout = timeout;
    m_flights[item.seq].slot = slot; // known before it starts: its output may come first
  }
  m_executor->start(slot, std::move(batch));
}

bool Engine::slot_is_free(unsigned slot) const
{
  return std::find(m_free_slots.begin(), m_free_slots.end(), slot) != m_free_slots.end();
}

unsigned Engine::slots_for(std::size_t asked, std::string& fewer) const
{
  std::size_t wanted = asked == 0 ? cpu_count() : asked;
  auto capped = static_cast<unsigned>(std::min(wanted, k_max_slots));
  unsigned fit = m_local ? LocalExecutor::fd_limited_slots(capped, m_blocks) : capped;
  if (fit < wanted) {
    // What was asked, not what was left of it after the cap.
    fewer = fmt::format("running {} jobs at a time instead of {}: {}", fit, wanted,
                        fit < capped ? "the open-file limit (ulimit -n) allows no more"
                                     : fmt::format("parmap runs at most {}", k_max_slots));
  }
  return fit;
}

void Engine::set_slots(unsigned slots)
{
  for (unsigned s = m_top_slot + 1; s <= slots; ++s) {
    if (!m_busy.contains(s)) {
      m_free_slots.insert(m_free_slots.begin(), s); // the highest goes first
    }
  }
  // Fewer: free slots above the count go now, busy ones when their batch is done.
  std::erase_if(m_free_slots, [slots](unsigned s) { return s > slots; });
  m_slots = m_top_slot = slots;
  m_sizer.set_jobs(slots);
  if (m_options.max_pending == 0) {
    m_max_pending = slots + 16;
  }
}

void Engine::poll_jobs()
{
  if (!m_local && m_options.remote.runs_elsewhere()) {
    return; // the hosts (or the allocation) fix the slots
  }
  try {
    auto asked = m_options.jobs_update();
    if (!asked) {
      return;
    }
    std::string fewer;
    unsigned slots = slots_for(*asked, fewer);
    if (!fewer.empty()) {
      warn(fewer);
    }
    set_slots(slots);
  } catch (const Error& e) {
    warn(fmt::format("{}; still running {} jobs at a time", e.what(), m_slots));
  }
}

} // namespace parmap::detail
