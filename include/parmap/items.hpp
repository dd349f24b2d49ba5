// parmap::Items: where a run's items come from; read lazily, as the run needs them.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <vector>

namespace parmap {

namespace detail {
class ItemSource;
struct ItemsAccess;
} // namespace detail

/// How --pipe and --pipepart cut their input into blocks of whole records, by GNU parallel's
/// rules. A block is given to its command on stdin instead of as an argument.
struct BlockFormat {
  /// Bytes a block aims at (--block). From a stream (--pipe) a block is the whole records that
  /// fit; when one record is longer, the size grows by 30% for the rest of the input. From a
  /// file (--pipepart) blocks are at least this long, up to the next record boundary, and a
  /// negative size -N means N blocks per job slot (the command line's default there is -10).
  std::int64_t size = 1024 * 1024;
  /// A record ends with this (--recend); with recstart also set, a boundary needs both. Both
  /// empty: a block may end at any byte.
  std::string recend = "\n";
  std::string recstart; ///< A record starts with this (--recstart).
  bool regexp = false;  ///< recend and recstart are Perl regular expressions (--regexp).
  /// Records per block (-N): exactly this many, the last block excepted, however long; 0 fills
  /// blocks up to `size` instead. Not for --pipepart.
  std::size_t records = 0;
  /// A record is this many lines (-L): blocks hold multiples of it. Not for --pipepart.
  std::size_t lines = 0;
  /// --header: ":" the first line, a number N the first N lines, anything else a regular
  /// expression matched at the start. Read once, given again before every block. "" for none.
  std::string header;
};

/// A sequence of items (argument strings), made of one or more sources read in order. Sources
/// are pulled only as far as dispatch needs them, so an endless source runs in flat memory.
class Items {
public:
  Items() = default;
  /// A fixed list; its length is known.
  Items(std::vector<std::string> items);
  Items(std::initializer_list<std::string> items);

  /// Items produced by `next` until it returns nullopt. `count`, if given, is the number of
  /// items it will produce (enables adaptive tail batching).
  static Items generate(std::function<std::optional<std::string>()> next,
                        std::optional<std::uint64_t> count = std::nullopt);
  /// Records ended by `delimiter`, read from `fd` (not closed), which is read without blocking
  /// the run. The length is known when fd is a regular file. `name` is used in messages.
  static Items from_fd(int fd, char delimiter = '\n', std::string name = "stdin");
  /// Records ended by `delimiter`, read from the file at `path`, which is opened now.
  /// Throws parmap::Error naming the file if it cannot be opened.
  static Items from_file(const std::string& path, char delimiter = '\n');
  /// --pipe: blocks of whole records cut from the stream on `fd` (not closed), read without
  /// blocking the run and in bounded memory; each is given to its command on stdin. Throws
  /// parmap::Error for a format that cannot work (a bad regular expression, a size below 1).
  static Items blocks(int fd, BlockFormat format, std::string name = "stdin");
  /// --pipepart: blocks of the file at `path`, cut at record boundaries near every `size`
  /// bytes; parmap never reads them, their commands read them through pipes it splices the file
  /// into. The file is opened now. Throws parmap::Error naming the file when it cannot be
  /// opened or is not a regular file or block device, or for a format that cannot work.
  static Items file_blocks(const std::string& path, BlockFormat format);
  /// Any input range of things convertible to std::string, pulled lazily. The range is moved
  /// in when given as an rvalue, referenced otherwise (keep it alive for the run).
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string>
  static Items from_range(R&& range);

  /// Appends the sources of `more` after these.
  Items& append(Items more);

  /// Every combination of one item from each of `sources`, as GNU parallel's `::: a b ::: 1 2`:
  /// the last source varies fastest, and each item has one argument per source ({1} {2}...).
  /// Only the first source is read as a stream: the others are read again for each item of
  /// the one before them, from disk for regular files and lists, from a temporary file for a
  /// pipe or a generator (spooled once), so memory stays flat whatever their size.
  static Items product(std::vector<Items> sources);
  /// The n-th items of `sources` side by side (GNU parallel's `:::+`), ending with the
  /// shortest source.
  static Items zip(std::vector<Items> sources);
  /// As zip(), ending with the longest source: shorter ones start over (GNU parallel's
  /// `--link`).
  static Items link(std::vector<Items> sources);

private:
  friend struct detail::ItemsAccess;
  std::vector<std::shared_ptr<detail::ItemSource>> m_sources;
};

template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string>
Items Items::from_range(R&& range)
{
  using View = std::views::all_t<R>;
  struct State {
    View view;
    std::ranges::iterator_t<View> it;
    bool begun = false;
  };
  std::optional<std::uint64_t> count;
  if constexpr (std::ranges::sized_range<R>) {
    count = static_cast<std::uint64_t>(std::ranges::size(range));
  }
  auto state = std::make_shared<State>(State{std::views::all(std::forward<R>(range)), {}, false});
  return generate(
      [state]() -> std::optional<std::string> {
        if (!state->begun) {
          state->it = std::ranges::begin(state->view);
          state->begun = true;
        }
        if (state->it == std::ranges::end(state->view)) {
          return std::nullopt;
        }
        std::string item(*state->it);
        ++state->it;
        return item;
      },
      count);
}

} // namespace parmap
