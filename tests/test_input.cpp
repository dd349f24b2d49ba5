// Item sources: the Splitter, count_records, and every kind of Items source pulled through
// detail::ItemsAccess as the engine pulls them.
#include "input/input.hpp"
#include "support.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <list>
#include <ranges>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace parmap;
using Pull = detail::ItemSource::Pull;

namespace {

/// Feeds `input` in pieces of `piece` bytes, taking records as they complete, then finishes.
std::vector<RawItem> split_all(std::string_view input, char delimiter, std::size_t piece)
{
  Splitter sp(delimiter);
  std::vector<RawItem> records;
  RawItem r;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    auto chunk = input.substr(at, piece);
    sp.feed(chunk.data(), chunk.size());
    while (sp.take(r)) {
      records.push_back(r);
    }
  }
  while (sp.take(r)) {
    records.push_back(r);
  }
  if (sp.finish(r)) {
    records.push_back(r);
  }
  RawItem extra;
  CHECK_FALSE(sp.finish(extra));
  CHECK_FALSE(sp.take(extra));
  return records;
}

std::vector<std::string> texts(const std::vector<RawItem>& records)
{
  std::vector<std::string> out;
  for (const auto& r : records) {
    out.push_back(r.text);
  }
  return out;
}

std::filesystem::path write_file(const std::string& name, const std::string& content)
{
  auto path = test::scratch("input") / name;
  std::ofstream f(path, std::ios::binary);
  f << content;
  f.close();
  REQUIRE(f.good());
  return path;
}

/// The message of the parmap::Error that fn throws ("" when it throws none).
template <typename Fn> std::string error_of(Fn&& fn)
{
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

detail::ItemSource& only_source(const Items& items)
{
  const auto& sources = detail::ItemsAccess::sources(items);
  REQUIRE(sources.size() == 1);
  return *sources.front();
}

/// Pulls one item as the one-argument record it is, as text and input size.
Pull pull_one(detail::ItemSource& source, RawItem& out)
{
  Record record;
  Pull p = source.next(record);
  if (p == Pull::item) {
    REQUIRE(record.args.size() == 1);
    out.text = record.args[0];
    out.full_size = record.oversize > 0 ? record.oversize : out.text.size();
  }
  return p;
}

/// Pulls every item of every source in order; a source that says `wait` fails the test.
std::vector<RawItem> pull_all(const Items& items)
{
  std::vector<RawItem> all;
  for (const auto& source : detail::ItemsAccess::sources(items)) {
    for (int guard = 0; guard < 1000000; ++guard) {
      RawItem r;
      Pull p = pull_one(*source, r);
      if (p == Pull::end) {
        break;
      }
      REQUIRE(p == Pull::item);
      all.push_back(std::move(r));
    }
    RawItem r;
    CHECK(pull_one(*source, r) == Pull::end); // end stays end
  }
  return all;
}

std::vector<std::string> pull_texts(const Items& items)
{
  return texts(pull_all(items));
}

bool readable_now(int fd)
{
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

void write_all(int fd, std::string_view s)
{
  REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
}

} // namespace

TEST_CASE("input: Splitter records and delimiters")
{
  struct Case {
    std::string input;
    char delimiter;
    std::vector<std::string> records;
  };
  const std::vector<Case> cases = {
      {"", '\n', {}},
      {"a", '\n', {"a"}},
      {"a\n", '\n', {"a"}},
      {"a\nb", '\n', {"a", "b"}},
      {"a\nb\n", '\n', {"a", "b"}},
      {"\n", '\n', {""}},
      {"\n\n", '\n', {"", ""}},
      {"a\n\nb\n\n", '\n', {"a", "", "b", ""}},
      {"a b\tc\r\n", '\n', {"a b\tc\r"}},
      {std::string("x\0y\0", 4), '\0', {"x", "y"}},
      {std::string("x\ny\0\0z", 6), '\0', {"x\ny", "", "z"}},
      {"a,b,,c\n", ',', {"a", "b", "", "c\n"}},
      {"one\ttwo\t", '\t', {"one", "two"}},
      {"\xff\xfe\n\xc3", '\n', {"\xff\xfe", "\xc3"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    // Whole, one byte at a time, and in pieces of 2 and 3: the same records.
    for (std::size_t piece : {c.input.size() + 1, std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
      CAPTURE(piece);
      auto records = split_all(c.input, c.delimiter, piece);
      CHECK(texts(records) == c.records);
      for (const auto& r : records) {
        CHECK(r.full_size == r.text.size());
      }
    }
  }
}

TEST_CASE("input: Splitter takes only complete records")
{
  Splitter sp('\n');
  RawItem r;
  CHECK_FALSE(sp.take(r));
  sp.feed("abc", 3);
  CHECK_FALSE(sp.take(r));
  CHECK(sp.buffered() == 3);
  sp.feed("de\nfg", 5);
  REQUIRE(sp.take(r));
  CHECK(r.text == "abcde");
  CHECK(r.full_size == 5);
  CHECK_FALSE(sp.take(r));
  CHECK(sp.buffered() == 2);
  sp.feed("\n", 1);
  REQUIRE(sp.take(r));
  CHECK(r.text == "fg");
  CHECK(sp.buffered() == 0);
  CHECK_FALSE(sp.finish(r));
}

TEST_CASE("input: Splitter cuts records longer than k_max_item_bytes")
{
  auto pattern = [](std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
  };

  SUBCASE("exactly the limit is kept whole, one more byte is cut")
  {
    std::string exact = pattern(k_max_item_bytes);
    std::string over = pattern(k_max_item_bytes + 1);
    auto records = split_all(exact + "\n" + over + "\nok\n", '\n', 4096);
    REQUIRE(records.size() == 3);
    CHECK(records[0].text == exact);
    CHECK(records[0].full_size == k_max_item_bytes);
    CHECK(records[1].text == over.substr(0, k_max_item_bytes));
    CHECK(records[1].full_size == k_max_item_bytes + 1);
    CHECK(records[2].text == "ok");
    CHECK(records[2].full_size == 2);
  }
  SUBCASE("the cut head is the record's first bytes, whatever the feed sizes")
  {
    std::string big = pattern(3 * k_max_item_bytes + 17);
    for (std::size_t piece : {std::size_t{1000}, std::size_t{65536}, big.size() + 10}) {
      CAPTURE(piece);
      auto records = split_all("x\n" + big + "\ny", '\n', piece);
      REQUIRE(records.size() == 3);
      CHECK(records[0].text == "x");
      CHECK(records[1].text.size() == k_max_item_bytes);
      CHECK(records[1].text == big.substr(0, k_max_item_bytes));
      CHECK(records[1].full_size == big.size());
      CHECK(records[2].text == "y");
      CHECK(records[2].full_size == 1);
    }
  }
  SUBCASE("a cut last record without a delimiter")
  {
    std::string big = pattern(k_max_item_bytes + 5000);
    auto records = split_all(big, '\n', 7000);
    REQUIRE(records.size() == 1);
    CHECK(records[0].text == big.substr(0, k_max_item_bytes));
    CHECK(records[0].full_size == big.size());
  }
  SUBCASE("memory stays bounded while many MB arrive without a delimiter")
  {
    Splitter sp('\n');
    const std::size_t chunk = 64 * 1024;
    std::string block(chunk, 'z');
    block[0] = 'A'; // marks where each block starts, to check the kept head
    RawItem r;
    std::size_t most = 0;
    const std::size_t total_blocks = 160; // 10 MiB
    for (std::size_t i = 0; i < total_blocks; ++i) {
      sp.feed(block.data(), block.size());
      CHECK_FALSE(sp.take(r));
      most = std::max(most, sp.buffered());
    }
    CHECK(most <= k_max_item_bytes + chunk);
    sp.feed("tail\nnext\n", 10);
    REQUIRE(sp.take(r));
    CHECK(r.full_size == total_blocks * chunk + 4);
    REQUIRE(r.text.size() == k_max_item_bytes);
    CHECK(r.text.substr(0, chunk) == block);
    CHECK(r.text[chunk] == 'A');
    REQUIRE(sp.take(r));
    CHECK(r.text == "next");
    CHECK(r.full_size == 4);
    CHECK(sp.buffered() == 0);
  }
  SUBCASE("a cut record leaves no bytes behind for the next one")
  {
    Splitter sp('\n');
    std::string big(k_max_item_bytes + 10, 'a');
    sp.feed(big.data(), big.size());
    RawItem r;
    CHECK_FALSE(sp.take(r));
    sp.feed("bbb\nccc", 7);
    REQUIRE(sp.take(r));
    CHECK(r.text == std::string(k_max_item_bytes, 'a'));
    CHECK(r.full_size == k_max_item_bytes + 13);
    CHECK_FALSE(sp.take(r));
    REQUIRE(sp.finish(r));
    CHECK(r.text == "ccc");
    CHECK(r.full_size == 3);
  }
}

TEST_CASE("input: count_records")
{
  struct Case {
    std::string content;
    char delimiter;
    std::uint64_t count;
  };
  const std::vector<Case> cases = {
      {"", '\n', 0},
      {"a", '\n', 1},
      {"a\n", '\n', 1},
      {"\n", '\n', 1},
      {"\n\n\n", '\n', 3},
      {"a\nb", '\n', 2},
      {"a\nb\n", '\n', 2},
      {std::string("a\0b\0c", 5), '\0', 3},
      {std::string("a\nb\0", 4), '\0', 1},
      {"a,b,c,", ',', 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.content);
    auto path = write_file("count", c.content);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    CHECK(count_records(fd.get(), c.delimiter, "f") == c.count);
    // The same count as the Splitter finds.
    CHECK(split_all(c.content, c.delimiter, 3).size() == c.count);
  }

  SUBCASE("larger than the read buffer, from the current offset, which does not move")
  {
    std::string content;
    for (int i = 0; i < 400000; ++i) {
      content += std::to_string(i) + "\n"; // about 2.7 MB
    }
    content += "last";
    auto path = write_file("big", content);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    CHECK(count_records(fd.get(), '\n', "big") == 400001);
    CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 0);
    REQUIRE(::lseek(fd.get(), 4, SEEK_SET) == 4); // "0\n1\n" are behind
    CHECK(count_records(fd.get(), '\n', "big") == 399999);
    CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 4);
  }
  SUBCASE("a read error names the source")
  {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    Fd r(p[0]), w(p[1]);
    auto msg = error_of([&] { count_records(r.get(), '\n', "the-source"); });
    CHECK(msg.find("the-source") != std::string::npos);
  }
}

TEST_CASE("input: Items from a vector")
{
  SUBCASE("items in order, count is what remains")
  {
    Items items(std::vector<std::string>{"a", "", "c c"});
    auto& src = only_source(items);
    CHECK(src.count() == 3u);
    CHECK(src.name() == "arguments");
    CHECK(src.wait_fd() == -1);
    RawItem r;
    REQUIRE(pull_one(src, r) == Pull::item);
    CHECK(r.text == "a");
    CHECK(src.count() == 2u);
    REQUIRE(pull_one(src, r) == Pull::item);
    CHECK(r.text == "");
    CHECK(r.full_size == 0);
    REQUIRE(pull_one(src, r) == Pull::item);
    CHECK(r.text == "c c");
    CHECK(src.count() == 0u);
    CHECK(pull_one(src, r) == Pull::end);
  }
  SUBCASE("initializer list and empty list")
  {
    CHECK(pull_texts(Items{"x", "y"}) == std::vector<std::string>{"x", "y"});
    Items none(std::vector<std::string>{});
    CHECK(only_source(none).count() == 0u);
    CHECK(pull_texts(none).empty());
    Items nothing;
    CHECK(detail::ItemsAccess::sources(nothing).empty());
  }
  SUBCASE("a too long item is cut, full_size tells its length")
  {
    std::string big(k_max_item_bytes + 100, 'q');
    big[0] = 'S';
    auto got = pull_all(Items(std::vector<std::string>{big, "s"}));
    REQUIRE(got.size() == 2);
    CHECK(got[0].text.size() == k_max_item_bytes);
    CHECK(got[0].text[0] == 'S');
    CHECK(got[0].full_size == big.size());
    CHECK(got[1].text == "s");
    CHECK(got[1].full_size == 1);
  }
}

TEST_CASE("input: Items::generate")
{
  int n = 0;
  auto next = [&n]() -> std::optional<std::string> {
    if (n == 4) {
      return std::nullopt;
    }
    return "g" + std::to_string(++n);
  };
  SUBCASE("without a count the length is unknown")
  {
    Items items = Items::generate(next);
    auto& src = only_source(items);
    CHECK_FALSE(src.count().has_value());
    CHECK(pull_texts(items) == std::vector<std::string>{"g1", "g2", "g3", "g4"});
    CHECK_FALSE(src.count().has_value());
  }
  SUBCASE("with a count, it goes down as items are produced")
  {
    Items items = Items::generate(next, 4);
    auto& src = only_source(items);
    CHECK(src.count() == 4u);
    RawItem r;
    REQUIRE(pull_one(src, r) == Pull::item);
    CHECK(r.text == "g1");
    CHECK(src.count() == 3u);
    CHECK(pull_texts(items) == std::vector<std::string>{"g2", "g3", "g4"});
    CHECK(src.count() == 0u);
  }
  SUBCASE("the generator is not called again after its end")
  {
    int calls = 0;
    Items items = Items::generate([&]() -> std::optional<std::string> {
      ++calls;
      return std::nullopt;
    });
    auto& src = only_source(items);
    RawItem r;
    CHECK(pull_one(src, r) == Pull::end);
    CHECK(pull_one(src, r) == Pull::end);
    CHECK(calls == 1);
  }
  SUBCASE("a too long item is cut")
  {
    bool done = false;
    Items items = Items::generate([&]() -> std::optional<std::string> {
      if (done) {
        return std::nullopt;
      }
      done = true;
      return std::string(k_max_item_bytes + 1, 'x');
    });
    auto got = pull_all(items);
    REQUIRE(got.size() == 1);
    CHECK(got[0].text.size() == k_max_item_bytes);
    CHECK(got[0].full_size == k_max_item_bytes + 1);
  }
  SUBCASE("nothing is generated before the first pull")
  {
    int calls = 0;
    Items items = Items::generate([&]() -> std::optional<std::string> {
      ++calls;
      return std::nullopt;
    });
    CHECK(calls == 0);
  }
}

TEST_CASE("input: Items::from_file")
{
  SUBCASE("records, a known count, the path as name")
  {
    auto path = write_file("items.txt", "one\ntwo\n\nfour");
    Items items = Items::from_file(path.string());
    auto& src = only_source(items);
    CHECK(src.name() == path.string());
    CHECK(src.count() == 4u);
    CHECK(src.wait_fd() == -1);
    CHECK(pull_texts(items) == std::vector<std::string>{"one", "two", "", "four"});
  }
  SUBCASE("other delimiters")
  {
    auto path = write_file("nul.bin", std::string("a\nb\0c\0", 6));
    Items items = Items::from_file(path.string(), '\0');
    CHECK(only_source(items).count() == 2u);
    CHECK(pull_texts(items) == std::vector<std::string>{"a\nb", "c"});
    auto path2 = write_file("semi.txt", "x;y;z");
    CHECK(pull_texts(Items::from_file(path2.string(), ';')) ==
          std::vector<std::string>{"x", "y", "z"});
  }
  SUBCASE("an empty file has no items")
  {
    auto path = write_file("empty", "");
    Items items = Items::from_file(path.string());
    CHECK(only_source(items).count() == 0u);
    CHECK(pull_texts(items).empty());
  }
  SUBCASE("more than one read buffer, with a long line cut")
  {
    std::string content;
    std::vector<std::string> expected;
    for (int i = 0; i < 30000; ++i) {
      expected.push_back("line-" + std::to_string(i));
      content += expected.back() + "\n";
    }
    std::string big(k_max_item_bytes + 3, 'L');
    content += big + "\nend\n";
    expected.push_back(big.substr(0, k_max_item_bytes));
    expected.emplace_back("end");
    auto path = write_file("many", content);
    Items items = Items::from_file(path.string());
    CHECK(only_source(items).count() == expected.size());
    auto got = pull_all(items);
    CHECK(texts(got) == expected);
    REQUIRE(got.size() == expected.size());
    CHECK(got[30000].full_size == big.size());
  }
  SUBCASE("a missing file is an Error naming the path")
  {
    auto path = test::scratch("input-missing") / "no-such-file";
    auto msg = error_of([&] { Items::from_file(path.string()); });
    CAPTURE(msg);
    CHECK(msg.find(path.string()) != std::string::npos);
    CHECK(msg.find("No such file") != std::string::npos);
  }
  SUBCASE("a directory is an Error naming the path")
  {
    auto dir = test::scratch("input-dir");
    auto msg = error_of([&] { Items::from_file(dir.string()); });
    CAPTURE(msg);
    CHECK(msg.find(dir.string()) != std::string::npos);
    CHECK(msg.find("directory") != std::string::npos);
  }
}

TEST_CASE("input: Items::from_fd on a regular file")
{
  auto path = write_file("fd.txt", "skip\nA\nB\nC");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  REQUIRE(::lseek(fd.get(), 5, SEEK_SET) == 5); // the caller already read "skip\n"
  {
    Items items = Items::from_fd(fd.get(), '\n', "my-input");
    auto& src = only_source(items);
    CHECK(src.name() == "my-input");
    CHECK(src.count() == 3u);
    CHECK(src.wait_fd() == -1);
    CHECK(pull_texts(items) == std::vector<std::string>{"A", "B", "C"});
  }
  // The descriptor belongs to the caller: still open after the Items are gone.
  CHECK(::fcntl(fd.get(), F_GETFD) != -1);
  CHECK(only_source(Items::from_fd(fd.get())).name() == "stdin");
}

TEST_CASE("input: Items::from_fd on a pipe")
{
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  Fd rd(p[0]), wr(p[1]);
  Items items = Items::from_fd(rd.get(), '\n', "pipe");
  auto& src = only_source(items);
  CHECK_FALSE(src.count().has_value());

  RawItem r;
  // Empty and still open: wait, on a descriptor that is not readable yet.
  CHECK(pull_one(src, r) == Pull::wait);
  int wfd = src.wait_fd();
  REQUIRE(wfd >= 0);
  CHECK_FALSE(readable_now(wfd));

  write_all(wr.get(), "a\nb\npart");
  CHECK(readable_now(wfd));
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "a");
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "b");
  // "part" has no delimiter yet and the pipe is open: wait again.
  CHECK(pull_one(src, r) == Pull::wait);
  CHECK_FALSE(readable_now(src.wait_fd()));

  write_all(wr.get(), "ial\n");
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "partial");
  write_all(wr.get(), "last");
  CHECK(pull_one(src, r) == Pull::wait);

  // The caller's descriptor was not made non-blocking (only parmap's own view of it).
  CHECK((::fcntl(rd.get(), F_GETFL) & O_NONBLOCK) == 0);

  wr.reset();
  CHECK(readable_now(src.wait_fd()));
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "last");
  CHECK(pull_one(src, r) == Pull::end);
  CHECK(pull_one(src, r) == Pull::end);
  CHECK_FALSE(src.count().has_value());
}

TEST_CASE("input: Items::from_fd on a pipe closed without data")
{
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  Fd rd(p[0]), wr(p[1]);
  Items items = Items::from_fd(rd.get(), '\0', "pipe");
  wr.reset();
  RawItem r;
  CHECK(pull_one(only_source(items), r) == Pull::end);
}

TEST_CASE("input: Items::from_range")
{
  SUBCASE("an lvalue vector is referenced, with a known length")
  {
    std::vector<std::string> v = {"a", "b", "c"};
    Items items = Items::from_range(v);
    auto& src = only_source(items);
    CHECK(src.count() == 3u);
    v[1] = "changed"; // read lazily, from the caller's vector
    RawItem r;
    REQUIRE(pull_one(src, r) == Pull::item);
    CHECK(r.text == "a");
    CHECK(src.count() == 2u);
    CHECK(pull_texts(items) == std::vector<std::string>{"changed", "c"});
    CHECK(v == std::vector<std::string>{"a", "changed", "c"}); // not moved from
  }
  SUBCASE("an rvalue vector is moved in and outlives its scope")
  {
    auto make = [] {
      std::vector<std::string> local = {"x", "y"};
      for (int i = 0; i < 50; ++i) {
        local.push_back(std::string(100, static_cast<char>('a' + i % 26)));
      }
      return Items::from_range(std::move(local));
    };
    Items items = make();
    CHECK(only_source(items).count() == 52u);
    auto got = pull_texts(items);
    REQUIRE(got.size() == 52);
    CHECK(got[0] == "x");
    CHECK(got[1] == "y");
    CHECK(got[51] == std::string(100, static_cast<char>('a' + 49 % 26)));
  }
  SUBCASE("a range of const char*")
  {
    const char* words[] = {"p", "q"};
    CHECK(pull_texts(Items::from_range(words)) == std::vector<std::string>{"p", "q"});
  }
  SUBCASE("a view without a size has an unknown length")
  {
    std::vector<std::string> v = {"1", "22", "3", "44"};
    auto even = v | std::views::filter([](const std::string& s) { return s.size() == 2; });
    Items items = Items::from_range(even);
    CHECK_FALSE(only_source(items).count().has_value());
    CHECK(pull_texts(items) == std::vector<std::string>{"22", "44"});
  }
  SUBCASE("a list (sized, not random access) and a generated view")
  {
    std::list<std::string> l = {"l1", "l2"};
    Items from_list = Items::from_range(l);
    CHECK(only_source(from_list).count() == 2u);
    CHECK(pull_texts(from_list) == std::vector<std::string>{"l1", "l2"});
    auto numbers = std::views::iota(1, 4) |
                   std::views::transform([](int i) { return std::to_string(i * 10); });
    Items gen = Items::from_range(numbers);
    CHECK(only_source(gen).count() == 3u);
    CHECK(pull_texts(gen) == std::vector<std::string>{"10", "20", "30"});
  }
}

TEST_CASE("input: Items::append keeps sources in order")
{
  auto path = write_file("appended", "f1\nf2\n");
  int n = 0;
  Items items{"a1", "a2"};
  Items& same = items.append(Items::from_file(path.string()))
                    .append(Items::generate([&]() -> std::optional<std::string> {
                      return n < 2 ? std::optional<std::string>("g" + std::to_string(++n))
                                   : std::nullopt;
                    }))
                    .append(Items{})
                    .append(Items{"z"});
  CHECK(&same == &items);
  const auto& sources = detail::ItemsAccess::sources(items);
  REQUIRE(sources.size() == 4);
  CHECK(sources[0]->name() == "arguments");
  CHECK(sources[1]->name() == path.string());
  CHECK(sources[1]->count() == 2u);
  CHECK_FALSE(sources[2]->count().has_value());
  CHECK(pull_texts(items) == std::vector<std::string>{"a1", "a2", "f1", "f2", "g1", "g2", "z"});
}

TEST_CASE("input: Items::from_fd on a socket")
{
  // stdin may be a socket (sshd, socket activation): read with MSG_DONTWAIT, waited on by fd.
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  Fd mine(sv[0]), theirs(sv[1]);
  Items items = Items::from_fd(mine.get(), '\n', "socket");
  auto& src = only_source(items);
  CHECK_FALSE(src.count().has_value());
  RawItem r;
  CHECK(pull_one(src, r) == Pull::wait);
  int wfd = src.wait_fd();
  REQUIRE(wfd >= 0); // a `wait` must come with something to wait on
  CHECK_FALSE(readable_now(wfd));
  write_all(theirs.get(), "s1\ns2");
  CHECK(readable_now(wfd));
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "s1");
  CHECK(pull_one(src, r) == Pull::wait);
  CHECK((::fcntl(mine.get(), F_GETFL) & O_NONBLOCK) == 0); // the caller's socket is untouched
  REQUIRE(::shutdown(theirs.get(), SHUT_WR) == 0);
  CHECK(readable_now(wfd));
  REQUIRE(pull_one(src, r) == Pull::item);
  CHECK(r.text == "s2");
  CHECK(pull_one(src, r) == Pull::end);
}
