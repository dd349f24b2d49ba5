// The input side of the engine: pulling items, replaying stored ones, forming and starting
// batches.
#include "engine.hpp"

#include <sys/epoll.h>

namespace parmap::detail {

void Engine::InputWatch::on_ready(std::uint32_t)
{
  engine->m_reactor.remove(fd, this);
  engine->m_input_waiting = false;
}

void Engine::dispatch()
{
  // Retries go first, each alone; when stopping, those before the stop point still run.
  while (!m_free_slots.empty() && !m_retries.empty()) {
    std::uint64_t seq = m_retries.front();
    m_retries.pop_front();
    Flight& f = m_flights[seq];
    Batch batch;
    batch.items.push_back(Item{seq, f.text, f.full_size, 0, f.attempt});
    start_batch(std::move(batch));
  }
  while (!m_stopping) {
    fill_staged();
    if (m_staged.items.empty() || m_free_slots.empty()) {
      return;
    }
    // fill_staged() stops short of the target only when the input has nothing more to give
    // now: send what there is rather than wait for a full batch.
    m_staged_batch = 0;
    start_batch(std::exchange(m_staged, Batch{}));
  }
}

void Engine::fill_staged()
{
  while (!m_input_done && !m_input_waiting && !m_stopping) {
    if (m_staged.items.empty() ? m_pending >= m_max_pending
                               : m_staged.items.size() >= m_staged_target) {
      return;
    }
    RawItem raw;
    if (!pull_item(raw)) {
      return;
    }
    std::uint64_t seq = ++m_read;
    std::uint64_t occurrence = 0;
    if (m_checkpoint) {
      occurrence = m_occurrences.next(raw.text);
      if (auto stored = m_checkpoint->lookup(raw.text, occurrence, m_spill)) {
        add_replay(seq, raw, occurrence, std::move(*stored));
        continue;
      }
    }
    if (m_staged.items.empty()) {
      m_staged_target = m_sizer.next(m_busy_slots, unsent_items());
      m_staged_batch = m_next_batch++;
      m_batch_left[m_staged_batch] = 0;
      ++m_pending;
    }
    Flight& f = m_flights[seq];
    f.text = raw.text;
    f.full_size = raw.full_size;
    f.occurrence = occurrence;
    f.batch = m_staged_batch;
    ++m_batch_left[m_staged_batch];
    m_staged.items.push_back(Item{seq, std::move(raw.text), raw.full_size, 0, 1});
  }
}

bool Engine::pull_item(RawItem& raw)
{
  const auto& sources = ItemsAccess::sources(m_items);
  try {
    while (m_source < sources.size()) {
      auto& source = *sources[m_source];
      switch (source.next(raw)) {
      case ItemSource::Pull::item:
        return true;
      case ItemSource::Pull::end:
        ++m_source;
        continue;
      case ItemSource::Pull::wait:
        m_input_waiting = true;
        m_input_watch.engine = this;
        m_input_watch.fd = source.wait_fd();
        m_reactor.add(m_input_watch.fd, EPOLLIN, &m_input_watch);
        return false;
      }
    }
  } catch (const Error& e) {
    m_input_done = true;
    fail_run(e.what());
    return false;
  }
  m_input_done = true;
  return false;
}

void Engine::add_replay(std::uint64_t seq, RawItem& raw, std::uint64_t occurrence, Result stored)
{
  Flight& f = m_flights[seq];
  f.text = std::move(raw.text);
  f.occurrence = occurrence;
  f.batch = m_next_batch++;
  m_batch_left[f.batch] = 1;
  ++m_pending;
  stored.seq = seq;
  stored.item = f.text;
  stored.replayed = true;
  stored.slot = 0;
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
  if (!m_total) {
    return std::nullopt;
  }
  std::uint64_t unread = *m_total > m_read ? *m_total - m_read : 0;
  if (m_checkpoint) {
    // Stored results still to come are replayed, not run: they are not work left.
    std::uint64_t replays_left = m_checkpoint->replayable() > m_replayed_seen
                                     ? m_checkpoint->replayable() - m_replayed_seen
                                     : 0;
    unread -= std::min(unread, replays_left);
  }
  return unread;
}

void Engine::start_batch(Batch batch)
{
  unsigned slot = m_free_slots.back();
  m_free_slots.pop_back();
  ++m_busy_slots;
  double timeout = item_timeout();
  for (auto& item : batch.items) {
    item.timeout = timeout;
  }
  m_executor->start(slot, std::move(batch));
}

} // namespace parmap::detail
