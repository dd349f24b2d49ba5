#include "support.hpp"

#include "output/format.hpp"

#include <algorithm>
#include <stdexcept>

namespace parmap::test {
namespace {
std::filesystem::path g_scratch;
} // namespace

void set_scratch_dir(const std::filesystem::path& dir)
{
  g_scratch = dir;
}

std::string pattern(std::size_t n, unsigned seed)
{
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

std::filesystem::path scratch(const std::string& name)
{
  static int counter = 0;
  auto dir = g_scratch / (name + "-" + std::to_string(++counter));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void FakeExecutor::start(unsigned slot, Batch batch)
{
  Slot& s = m_state[slot];
  if (s.busy) {
    throw std::logic_error("start() on a busy slot");
  }
  Started rec{slot, {}, {}};
  for (auto& item : batch.items) {
    rec.seqs.push_back(item.seq);
    rec.timeouts.push_back(item.timeout);
    texts[item.seq] = joined(item.args, ' ');
    blocks[item.seq].push_back(item.block);
    s.queue.push_back(std::move(item));
  }
  started.push_back(std::move(rec));
  s.busy = true;
  m_events.emplace_back(ItemStarted{s.queue.front().seq, slot, {}, 0, 0});
}

void FakeExecutor::end_interrupted(unsigned slot, std::uint64_t seq, bool ran)
{
  ItemEnded end;
  end.seq = seq;
  end.slot = slot;
  end.interrupted = true;
  if (ran) {
    end.started = std::chrono::system_clock::now();
    end.duration = 0.01;
  }
  m_events.emplace_back(std::move(end));
}

void FakeExecutor::start_next(unsigned slot)
{
  Slot& s = m_state[slot];
  while (!s.queue.empty() && s.queue.front().seq >= m_cancel_from) {
    end_interrupted(slot, s.queue.front().seq, false);
    s.queue.pop_front();
  }
  if (s.queue.empty()) {
    s.busy = false;
    m_events.emplace_back(SlotFree{slot});
    return;
  }
  m_events.emplace_back(ItemStarted{s.queue.front().seq, slot, {}, 0, 0});
}

void FakeExecutor::wait(std::optional<Clock::time_point>, std::vector<ExecutorEvent>& events)
{
  if (m_events.empty() && on_wait) {
    on_wait(*this);
  }
  if (m_events.empty() && running() == 0) {
    // Nothing runs and nothing happened: the engine is waiting for a timer; let time pass.
    usleep(1000);
  }
  for (auto& e : m_events) {
    events.push_back(std::move(e));
  }
  m_events.clear();
}

void FakeExecutor::cancel(std::uint64_t from_seq, int signal)
{
  cancels.emplace_back(from_seq, signal);
  m_cancel_from = std::min(m_cancel_from, from_seq);
  for (auto& [slot, s] : m_state) {
    if (!s.busy) {
      continue;
    }
    // Queued items after the current one are dropped now; the current one is "killed".
    while (s.queue.size() > 1 && s.queue.back().seq >= from_seq) {
      end_interrupted(slot, s.queue.back().seq, false);
      s.queue.pop_back();
    }
    if (s.queue.front().seq >= from_seq && signal != 0) {
      end_interrupted(slot, s.queue.front().seq, true);
      s.queue.pop_front();
      start_next(slot);
    }
  }
}

std::size_t FakeExecutor::running() const
{
  return static_cast<std::size_t>(std::count_if(m_state.begin(), m_state.end(),
                                                [](const auto& e) { return e.second.busy; }));
}

std::vector<std::uint64_t> FakeExecutor::running_seqs() const
{
  std::vector<std::uint64_t> seqs;
  for (const auto& [slot, s] : m_state) {
    if (s.busy && !s.queue.empty()) {
      seqs.push_back(s.queue.front().seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

std::optional<std::uint64_t> FakeExecutor::running_on(unsigned slot) const
{
  auto it = m_state.find(slot);
  if (it == m_state.end() || !it->second.busy || it->second.queue.empty()) {
    return std::nullopt;
  }
  return it->second.queue.front().seq;
}

void FakeExecutor::lose_slot(unsigned slot)
{
  Slot& s = m_state[slot];
  for (const auto& item : s.queue) {
    ItemEnded end;
    end.seq = item.seq;
    end.slot = slot;
    end.lost = true;
    m_events.emplace_back(std::move(end));
  }
  s.queue.clear();
  s.busy = false;
  m_events.emplace_back(SlotFree{slot, true});
}

void FakeExecutor::restore_slot(unsigned slot)
{
  m_events.emplace_back(SlotFree{slot, false});
}

void FakeExecutor::finish(std::uint64_t seq, Status status, int exit_code, const std::string& out,
                          const std::string& err)
{
  for (auto& [slot, s] : m_state) {
    if (!s.busy || s.queue.empty() || s.queue.front().seq != seq) {
      continue;
    }
    Item item = std::move(s.queue.front());
    s.queue.pop_front();
    if (!out.empty()) {
      m_listener.on_output(seq, Stream::out, out);
    }
    if (!err.empty()) {
      m_listener.on_output(seq, Stream::err, err);
    }
    ItemEnded end;
    end.seq = seq;
    end.slot = slot;
    end.status = status;
    end.exit_code = exit_code;
    end.started = std::chrono::system_clock::now();
    end.duration = duration;
    m_events.emplace_back(std::move(end));
    start_next(slot);
    return;
  }
  throw std::logic_error("finish(" + std::to_string(seq) + "): not running");
}

bool FakeExecutor::finish_oldest()
{
  auto seqs = running_seqs();
  if (seqs.empty()) {
    return false;
  }
  finish(seqs.front(), Status::ok, 0, texts[seqs.front()] + "\n");
  return true;
}

FakeRun::FakeRun(Command command, Items items, Options options,
                 std::function<void(FakeExecutor&)> on_wait)
{
  engine = std::make_unique<detail::Engine>(
      std::move(command), std::move(items), std::move(options),
      [this, on_wait](Reactor&, const CommandTemplate&, OutputListener& listener, unsigned) {
        auto made = std::make_unique<FakeExecutor>(listener);
        made->on_wait = on_wait;
        fake = made.get();
        return made;
      });
}

std::optional<Result> FakeRun::drain_until_failure(std::vector<Result>& before)
{
  try {
    while (auto r = engine->next()) {
      before.push_back(std::move(*r));
    }
  } catch (const ItemFailed& e) {
    return e.result();
  }
  return std::nullopt;
}

std::vector<Result> FakeRun::drain()
{
  std::vector<Result> all;
  while (auto r = engine->next()) {
    all.push_back(std::move(*r));
  }
  return all;
}

} // namespace parmap::test
