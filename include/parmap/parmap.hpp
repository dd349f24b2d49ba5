// parmap: run a command once per item in a pool of processes, as a C++ library.
//
//   parmap::Options options;
//   options.jobs = 4;
//   for (const parmap::Result& r : parmap::imap({"gzip", "-k", "{}"}, {"a.txt", "b.txt"}, options))
//     std::cout << r.item << ": " << parmap::to_string(r.status) << '\n';
//
// Everything the `parmap` executable does goes through this header.
#pragma once

#include "parmap/error.hpp"
#include "parmap/items.hpp"
#include "parmap/options.hpp"
#include "parmap/output.hpp"
#include "parmap/result.hpp"

#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

namespace detail {
class Engine;
} // namespace detail

/// The command template: words as on a command line, with replacement strings ({} {.} {/}
/// {//} {/.} {#} {%}). Several words are exec'd directly; a single word with shell syntax runs
/// through /bin/sh -c (see Options::shell). With no replacement string the item is appended.
using Command = std::vector<std::string>;

/// parmap's version, e.g. "0.1.0".
const char* version();

/// `text` quoted for POSIX sh as one word with exactly these bytes, as --dry-run and
/// Result::command show commands; text made only of safe characters is returned as it is.
std::string shell_quote(std::string_view text);

/// The CPUs this process may run on (its affinity mask, so taskset and cpusets count), at least
/// 1: what Options::jobs = 0 means.
unsigned cpu_count();

/// A run in progress, consumed as an input range of results. The run advances only while the
/// range is being iterated; destroying the range before its end stops the run (running items
/// are terminated, the checkpoint committed).
class Results {
public:
  class iterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Result;
    using difference_type = std::ptrdiff_t;
    using pointer = const Result*;
    using reference = const Result&;

    iterator() = default;
    const Result& operator*() const { return *m_owner->m_current; }
    const Result* operator->() const { return &*m_owner->m_current; }
    /// Runs until the next result. Throws ItemFailed (fail-fast), Interrupted, or Error.
    iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !m_owner || !m_owner->m_current; }

  private:
    friend class Results;
    explicit iterator(Results* owner) : m_owner(owner) {}
    Results* m_owner = nullptr;
  };

  Results(Results&&) noexcept;
  Results& operator=(Results&&) noexcept;
  ~Results();

  /// Starts the run (on first call) and returns an iterator at the first result.
  iterator begin();
  std::default_sentinel_t end() const { return {}; }

  /// Counts so far; after the end of the range, how the run ended.
  Summary summary() const;

private:
  friend Results imap(Command command, Items items, Options options);
  explicit Results(std::unique_ptr<detail::Engine> engine);
  void advance();

  std::unique_ptr<detail::Engine> m_engine;
  std::optional<Result> m_current;
  bool m_begun = false;
};

/// Runs `command` for each item and returns the results as a lazily evaluated range, in input
/// order or as they finish (Options::order). Throws Error for invalid options or an unusable
/// checkpoint before any item runs.
Results imap(Command command, Items items, Options options = {});

/// Runs everything and returns all results (in delivery order). In fail-fast mode the first
/// failure is thrown as ItemFailed.
std::vector<Result> map(Command command, Items items, Options options = {});

/// map() on another thread.
std::future<std::vector<Result>> map_async(Command command, Items items, Options options = {});

/// Runs on another thread and calls `on_result` there for each result as it is delivered. The
/// future gives the Summary, or the ItemFailed / Interrupted / Error that ended the run. A
/// callback that throws stops the run and its exception reaches the future.
std::future<Summary> imap_async(Command command,
                                Items items,
                                Options options,
                                std::function<void(const Result&)> on_result);

} // namespace parmap
