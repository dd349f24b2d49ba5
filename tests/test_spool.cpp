// ItemSpool: items read ahead keep their bytes and order (or come out shuffled, each once),
// through memory and the file.
#include "input/spool.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using namespace parmap;

namespace {

/// An item of one argument, or (every fifth) of two: several sources or columns.
Record item_of(const std::string& text, std::size_t i, std::uint64_t oversize = 0)
{
  Record r;
  r.args.push_back(text);
  if (i % 5 == 0) {
    r.args.emplace_back(i % 10 == 0 ? "" : "second");
  }
  r.oversize = oversize;
  return r;
}

} // namespace

TEST_CASE("spool: items come out in input order, as they were put, interleaved with puts")
{
  ItemSpool spool(test::scratch("spool-order").string(), false);
  Record out;
  CHECK_FALSE(spool.take(out));
  // Enough bytes to go through the file several times (the memory bound is 1 MiB).
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    texts.push_back(test::pattern(static_cast<std::size_t>(i % 7 == 0 ? 5000 : i % 50), i));
  }
  std::size_t next = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    spool.put(item_of(texts[i], i, i == 3 ? 999999 : 0));
    if (i % 3 == 0) {
      REQUIRE(spool.take(out));
      CHECK(out.args == item_of(texts[next], next).args);
      CHECK(out.oversize == (next == 3 ? 999999 : 0));
      ++next;
    }
  }
  CHECK_FALSE(spool.input_ended());
  spool.end_of_input();
  CHECK(spool.count() == texts.size());
  while (spool.take(out)) {
    REQUIRE(next < texts.size());
    CHECK(out.args == item_of(texts[next], next).args);
    ++next;
  }
  CHECK(next == texts.size());
}

TEST_CASE("spool: shuffled, every item comes out once, after the input ended")
{
  ItemSpool spool(test::scratch("spool-shuffle").string(), true);
  std::set<std::string> put;
  for (int i = 0; i < 2000; ++i) {
    std::string text = std::to_string(i) + std::string(static_cast<std::size_t>(i), '.');
    spool.put(item_of(text, 1));
    put.insert(text);
  }
  Record out;
  CHECK_FALSE(spool.take(out)); // nothing before the end: any item may come first
  spool.end_of_input();
  std::vector<std::string> taken;
  while (spool.take(out)) {
    REQUIRE(out.args.size() == 1);
    taken.push_back(out.args[0]);
  }
  CHECK(std::set<std::string>(taken.begin(), taken.end()) == put);
  CHECK(taken.size() == put.size());
  CHECK_FALSE(std::is_sorted(taken.begin(), taken.end(), [](const auto& a, const auto& b) {
    return std::stoi(a) < std::stoi(b);
  }));
}
