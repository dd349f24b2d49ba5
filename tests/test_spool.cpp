// ItemSpool: items read ahead keep their bytes and order (or come out shuffled, each once),
// through memory and the file.
#include "input/spool.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using namespace parmap;

namespace {

RawItem item_of(std::string text, std::uint64_t full_size = 0)
{
  RawItem r;
  r.full_size = full_size ? full_size : text.size();
  r.text = std::move(text);
  return r;
}

} // namespace

TEST_CASE("spool: items come out in input order, as they were put, interleaved with puts")
{
  ItemSpool spool(test::scratch("spool-order").string(), false);
  RawItem out;
  CHECK_FALSE(spool.take(out));
  // Enough bytes to go through the file several times (the memory bound is 1 MiB).
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    texts.push_back(test::pattern(static_cast<std::size_t>(i % 7 == 0 ? 5000 : i % 50), i));
  }
  std::size_t next = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    spool.put(item_of(texts[i], i == 3 ? 999999 : 0));
    if (i % 3 == 0) {
      REQUIRE(spool.take(out));
      CHECK(out.text == texts[next]);
      CHECK(out.full_size == (next == 3 ? 999999 : texts[next].size()));
      ++next;
    }
  }
  CHECK_FALSE(spool.input_ended());
  spool.end_of_input();
  CHECK(spool.count() == texts.size());
  while (spool.take(out)) {
    REQUIRE(next < texts.size());
    CHECK(out.text == texts[next++]);
  }
  CHECK(next == texts.size());
}

TEST_CASE("spool: shuffled, every item comes out once, after the input ended")
{
  ItemSpool spool(test::scratch("spool-shuffle").string(), true);
  std::set<std::string> put;
  for (int i = 0; i < 2000; ++i) {
    std::string text = std::to_string(i) + std::string(static_cast<std::size_t>(i), '.');
    spool.put(item_of(text));
    put.insert(text);
  }
  RawItem out;
  CHECK_FALSE(spool.take(out)); // nothing before the end: any item may come first
  spool.end_of_input();
  std::vector<std::string> taken;
  while (spool.take(out)) {
    taken.push_back(out.text);
  }
  CHECK(std::set<std::string>(taken.begin(), taken.end()) == put);
  CHECK(taken.size() == put.size());
  CHECK_FALSE(std::is_sorted(taken.begin(), taken.end(), [](const auto& a, const auto& b) {
    return std::stoi(a) < std::stoi(b);
  }));
}
