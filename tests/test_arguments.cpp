// Several arguments per command: input sources combined (product, zip, link, spooled pipes),
// columns (--colsep, --trim), and items grouped into commands (-n, -X, -m, -L, -s).
#include "input/columns.hpp"
#include "input/combine.hpp"
#include "run/grouping.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <fstream>

#include <unistd.h>

using namespace parmap;
using detail::ItemSource;
using Pull = ItemSource::Pull;

namespace {

/// Every record of `items`, its arguments joined by '|'.
std::vector<std::string> joined(const Items& items)
{
  std::vector<std::string> out;
  for (const auto& source : detail::ItemsAccess::sources(items)) {
    Record r;
    while (source->next(r) == Pull::item) {
      std::string line;
      for (const auto& a : r.args) {
        line += (line.empty() ? "" : "|") + a;
      }
      out.push_back(line);
    }
  }
  return out;
}

std::optional<std::uint64_t> count_of(const Items& items)
{
  return detail::ItemsAccess::sources(items).front()->count();
}

/// A pipe holding `data`, its write end closed: a source that cannot be read twice.
Items pipe_of(const std::string& data)
{
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  ::close(fds[1]);
  return Items::from_fd(fds[0], '\n', "pipe");
}

} // namespace

TEST_CASE("combine: every combination, the last source fastest, as GNU parallel")
{
  Items p = Items::product({Items{"a", "b"}, Items{"1", "2", "3"}});
  CHECK(count_of(p) == 6u);
  CHECK(joined(p) == std::vector<std::string>{"a|1", "a|2", "a|3", "b|1", "b|2", "b|3"});
  SUBCASE("an empty source has no combinations")
  {
    CHECK(joined(Items::product({Items{"a"}, Items(std::vector<std::string>{})})).empty());
  }
  SUBCASE("a pipe after the first is spooled and read again; the first streams")
  {
    Items q = Items::product({pipe_of("x\ny\n"), pipe_of("1\n2\n")});
    CHECK(joined(q) == std::vector<std::string>{"x|1", "x|2", "y|1", "y|2"});
  }
  SUBCASE("a file after the first is read again from disk")
  {
    auto dir = test::scratch("combine-file");
    std::ofstream(dir / "f") << "1\n2\n";
    Items q = Items::product({Items{"a", "b"}, Items::from_file((dir / "f").string(), '\n')});
    CHECK(joined(q) == std::vector<std::string>{"a|1", "a|2", "b|1", "b|2"});
  }
}

TEST_CASE("combine: side by side")
{
  CHECK(joined(Items::zip({Items{"a", "b", "c"}, Items{"1", "2"}})) ==
        std::vector<std::string>{"a|1", "b|2"}); // :::+ ends with the shortest
  Items l = Items::link({Items{"a", "b", "c", "d"}, Items{"1", "2", "3"}});
  CHECK(count_of(l) == 4u);
  CHECK(joined(l) == std::vector<std::string>{"a|1", "b|2", "c|3", "d|1"}); // --link wraps
  CHECK(joined(Items::link({pipe_of("p\nq\nr\n"), Items{"1", "2"}})) ==
        std::vector<std::string>{"p|1", "q|2", "r|1"});
}

TEST_CASE("columns: split at a pattern, every field kept, trimmed as asked")
{
  Columns c;
  c.separator = ",";
  ColumnSplitter split(c);
  std::vector<std::string> args{" a ,,b"};
  split.apply(args);
  CHECK(args == std::vector<std::string>{"a", "", "b"}); // --colsep trims both ends by default
  c.separator = "\\s+";
  c.trim = Trim::none;
  std::vector<std::string> ws{"x  y\tz"};
  ColumnSplitter(c).apply(ws);
  CHECK(ws == std::vector<std::string>{"x", "y", "z"});
  CHECK_THROWS_AS(Pattern("(", "--colsep"), Error);
  CHECK_THROWS_AS(Pattern("", "--colsep"), Error);
  Pattern any("x*", "--colsep");
  CHECK_FALSE(any.find("abc", 0).has_value()); // empty matches separate nothing
  CHECK(Pattern(".*\\n", "--header").matches_all("h1,h2\n"));
}

TEST_CASE("grouping: items gather into commands")
{
  CommandTemplate echo({"echo"}, Shell::never);
  auto groups = [&](Grouping g, std::vector<std::string> items, std::size_t limit, unsigned slots) {
    Grouper grouper(g, echo, limit, slots);
    std::vector<std::vector<std::string>> out;
    for (auto& i : items) {
      grouper.add(Record{{i}, 0, nullptr});
      while (grouper.ready()) {
        out.push_back(grouper.take().args);
      }
    }
    grouper.finish();
    while (grouper.ready()) {
      out.push_back(grouper.take().args);
    }
    CHECK(grouper.empty());
    return out;
  };
  using G = std::vector<std::vector<std::string>>;
  Grouping n2;
  n2.max_items = 2;
  CHECK(groups(n2, {"a", "b", "c"}, 1 << 20, 4) == G{{"a", "b"}, {"c"}});
  Grouping fill;
  fill.max_items = 0;
  fill.max_chars = 5 + 4 * 2; // "echo" and two "aaa" with their NULs
  CHECK(groups(fill, {"aaa", "bbb", "ccc"}, 1 << 20, 1) == G{{"aaa", "bbb"}, {"ccc"}});
  SUBCASE("the system's limit, pointers included, bounds a group too")
  {
    Grouping all;
    all.max_items = 0;
    // "echo" and 10 items, each string with its NUL and its pointer, and argv's final NULL.
    std::size_t ten = 5 + 8 + 10 * (8 + 8) + 8;
    CHECK(groups(all, std::vector<std::string>(100, "xxxxxxx"), ten, 1).size() == 10u);
    CHECK(groups(all, std::vector<std::string>(100, "xxxxxxx"), ten - 1, 1).size() == 12u);
  }
  SUBCASE("at the end, the last items are spread over the slots (-m, -X)")
  {
    Grouping spread;
    spread.max_items = 0;
    spread.spread = true;
    CHECK(groups(spread, {"1", "2", "3", "4", "5"}, 1 << 20, 2) == G{{"1", "2", "3"}, {"4", "5"}});
  }
  SUBCASE("-L: a line ending in a blank goes on in the next")
  {
    Grouping lines;
    lines.max_items = 1;
    lines.continue_lines = true;
    CHECK(groups(lines, {"a ", "b", "c"}, 1 << 20, 1) == G{{"a b"}, {"c"}});
  }
  SUBCASE("-N0: a command per item, without it")
  {
    Grouping none;
    none.no_arguments = true;
    CHECK(groups(none, {"a", "b"}, 1 << 20, 1) == G{{}, {}});
  }
  CHECK(command_count(5, n2) == 3u);
  CHECK_FALSE(command_count(5, fill).has_value());
  CHECK_FALSE(command_count(std::nullopt, n2).has_value());
}
