// The public API (parmap/parmap.hpp) over the engine.
#include "run/engine.hpp"
#include "parmap/parmap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sched.h>
#include <thread>

namespace parmap {

#ifndef PARMAP_VERSION
#define PARMAP_VERSION "0.0.0"
#endif

const char* version()
{
  return PARMAP_VERSION;
}

unsigned cpu_count()
{
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1U, std::thread::hardware_concurrency());
}

const char* to_string(Status status)
{
  switch (status) {
  case Status::ok:
    return "ok";
  case Status::failed:
    return "failed";
  case Status::timeout:
    return "timeout";
  case Status::signaled:
    return "signaled";
  }
  return "failed";
}

namespace {

std::string describe_failure(const Result& r)
{
  switch (r.status) {
  case Status::timeout:
    return "timed out";
  case Status::signaled:
    return fmt::format("killed by signal {}", r.signal);
  default:
    return fmt::format("exit status {}", r.exit_code);
  }
}

} // namespace

ItemFailed::ItemFailed(Result result)
    : std::runtime_error(fmt::format("item {} ({}) failed: {}", result.seq, result.item,
                                     describe_failure(result))),
      m_result(std::move(result))
{
}

Interrupted::Interrupted(int signal)
    : std::runtime_error(fmt::format("interrupted by signal {}", signal)), m_signal(signal)
{
}

int Summary::exit_status() const
{
  if (halted) {
    // --halt: the status of the item that triggered it (0 for a halt on success).
    return stop_result.ok() ? 0 : (stop_result.exit_code != 0 ? stop_result.exit_code : 1);
  }
  if (counts.failed == 0) {
    return 0;
  }
  return counts.failed > 100 ? 101 : static_cast<int>(counts.failed);
}

Results::Results(std::unique_ptr<detail::Engine> engine) : m_engine(std::move(engine)) {}
Results::Results(Results&&) noexcept = default;
Results& Results::operator=(Results&&) noexcept = default;
Results::~Results() = default;

Results::iterator Results::begin()
{
  if (!m_begun) {
    m_begun = true;
    advance();
  }
  return iterator(this);
}

void Results::advance()
{
  m_current.reset();
  if (m_engine) {
    m_current = m_engine->next();
  }
}

Results::iterator& Results::iterator::operator++()
{
  m_owner->advance();
  return *this;
}

Summary Results::summary() const
{
  return m_engine ? m_engine->summary() : Summary{};
}

Results imap(Command command, Items items, Options options)
{
  return Results(
      std::make_unique<detail::Engine>(std::move(command), std::move(items), std::move(options)));
}

std::vector<Result> map(Command command, Items items, Options options)
{
  std::vector<Result> all;
  for (const Result& r : imap(std::move(command), std::move(items), std::move(options))) {
    all.push_back(r);
  }
  return all;
}

std::future<std::vector<Result>> map_async(Command command, Items items, Options options)
{
  return std::async(std::launch::async,
                    [command = std::move(command), items = std::move(items),
                     options = std::move(options)]() mutable {
                      return map(std::move(command), std::move(items), std::move(options));
                    });
}

std::future<Summary> imap_async(Command command,
                                Items items,
                                Options options,
                                std::function<void(const Result&)> on_result)
{
  return std::async(std::launch::async,
                    [command = std::move(command), items = std::move(items),
                     options = std::move(options), on_result = std::move(on_result)]() mutable {
                      Results results = imap(std::move(command), std::move(items),
                                             std::move(options));
                      for (const Result& r : results) {
                        if (on_result) {
                          on_result(r);
                        }
                      }
                      return results.summary();
                    });
}

} // namespace parmap
