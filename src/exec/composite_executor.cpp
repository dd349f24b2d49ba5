#include "exec/composite_executor.hpp"

#include <numeric>
#include <stdexcept>

namespace parmap {

CompositeExecutor::CompositeExecutor(Reactor& reactor, std::vector<Part> parts)
    : m_reactor(reactor), m_parts(std::move(parts))
{
}

void CompositeExecutor::start(unsigned slot, Batch batch)
{
  for (auto& part : m_parts) {
    if (slot >= part.first_slot && slot < part.first_slot + part.slots) {
      part.executor->start(slot, std::move(batch));
      return;
    }
  }
  throw std::logic_error("CompositeExecutor: no part has slot " + std::to_string(slot));
}

void CompositeExecutor::collect(std::vector<ExecutorEvent>& events)
{
  // A deadline already passed: each part reports what it has and does not sleep.
  for (auto& part : m_parts) {
    part.executor->wait(Clock::time_point{}, events);
  }
}

void CompositeExecutor::wait(std::optional<Clock::time_point> until,
                             std::vector<ExecutorEvent>& events)
{
  std::size_t before = events.size();
  collect(events);
  if (events.size() == before) {
    m_reactor.run_once(until); // the one place this run sleeps, whichever part wakes it
    collect(events);
  }
}

void CompositeExecutor::cancel(std::uint64_t from_seq, int signal)
{
  for (auto& part : m_parts) {
    part.executor->cancel(from_seq, signal);
  }
}

void CompositeExecutor::kill_all()
{
  for (auto& part : m_parts) {
    part.executor->kill_all();
  }
}

void CompositeExecutor::stop_all()
{
  for (auto& part : m_parts) {
    part.executor->stop_all();
  }
}

void CompositeExecutor::continue_all()
{
  for (auto& part : m_parts) {
    part.executor->continue_all();
  }
}

void CompositeExecutor::resume_output(std::uint64_t seq)
{
  for (auto& part : m_parts) {
    part.executor->resume_output(seq);
  }
}

std::size_t CompositeExecutor::running() const
{
  return std::accumulate(m_parts.begin(), m_parts.end(), std::size_t{0},
                         [](std::size_t n, const Part& p) { return n + p.executor->running(); });
}

} // namespace parmap
