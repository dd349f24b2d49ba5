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
    : std::runtime_error(fmt::format("item {} ({}){}{} failed: {}", result.seq, result.item,
                                     result.host.empty() ? "" : " on ", result.host,
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
  // GNU parallel's rules (its sub halt and should_we_halt), which its scripts rely on.
  auto capped = [](std::uint64_t failed) { return static_cast<int>(std::min<std::uint64_t>(failed, 101)); };
  auto percent = [](std::uint64_t failed, std::uint64_t of) {
    of = std::max<std::uint64_t>(of, 1);
    return static_cast<int>((failed * 100 + of - 1) / of); // rounded up
  };
  if (halted) {
    if (halt.on == Halt::On::success) {
      return 0;
    }
    if (halt.percent) {
      return percent(failed_at_halt, counts.total);
    }
    if (halt.threshold <= 1) {
      return stop_result.ok() ? 0 : (stop_result.exit_code != 0 ? stop_result.exit_code : 1);
    }
    return capped(failed_at_halt);
  }
  if (halt.when != Halt::When::never && halt.percent) {
    return percent(counts.failed, counts.finished);
  }
  return capped(counts.failed);
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
