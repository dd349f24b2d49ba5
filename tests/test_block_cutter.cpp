// The --pipe block cutter (GNU parallel's rules, every boundary case), record boundaries,
// --header patterns, --pipepart's split points, and --block sizes.
#include "cli/pipe_options.hpp"
#include "fuzz/properties.hpp"
#include "input/block_cutter.hpp"
#include "support.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

using namespace parmap;
using Blocks = std::vector<std::string>;

namespace {

/// The blocks of `input` read whole, checked to be the same when read a byte at a time.
fuzz::CutBlocks cut(const BlockFormat& format, std::string_view input)
{
  auto whole = fuzz::cut_blocks(format, input, [] { return SIZE_MAX; });
  auto bytes = fuzz::cut_blocks(format, input, [] { return std::size_t{1}; });
  CHECK(whole.blocks == bytes.blocks);
  CHECK(whole.header == bytes.header);
  return whole;
}

BlockFormat sized(std::int64_t size)
{
  BlockFormat f;
  f.size = size;
  return f;
}

std::string lines(int from, int to)
{
  std::string s;
  for (int i = from; i <= to; ++i) {
    s += std::to_string(i) + "\n";
  }
  return s;
}

} // namespace

TEST_CASE("block cutter: a block is the whole records that fit in --block")
{
  // GNU parallel: fill 10 bytes, cut after the last newline in them.
  auto r = cut(sized(10), lines(1, 12)); // 1..9 are 2 bytes, 10..12 are 3
  CHECK(r.blocks == Blocks{"1\n2\n3\n4\n5\n", "6\n7\n8\n9\n", "10\n11\n12\n"});
  CHECK(r.growth.empty());
}

TEST_CASE("block cutter: boundary cases")
{
  SUBCASE("empty input: no block") {
    CHECK(cut(sized(10), "").blocks.empty());
  }
  SUBCASE("no trailing newline: the rest is the last block") {
    CHECK(cut(sized(4), "a\nbb\nccc").blocks == Blocks{"a\n", "bb\n", "ccc"});
  }
  SUBCASE("at the end the rest is one block, as long as it fits") {
    CHECK(cut(sized(100), "a\nbb\nccc").blocks == Blocks{"a\nbb\nccc"});
  }
  SUBCASE("a record longer than the block: the block grows by 30% + 1, for good") {
    auto r = cut(sized(3), "abcdefgh\nij\nk\n");
    // 3 -> 5 -> 8 -> 12: "abcdefgh\nij\n" is the first 12 bytes cut at its last newline.
    CHECK(r.growth == std::vector<std::uint64_t>{3, 5, 8});
    CHECK(r.blocks == Blocks{"abcdefgh\nij\n", "k\n"});
  }
  SUBCASE("--recend '': blocks of exactly --block bytes") {
    BlockFormat f = sized(4);
    f.recend = "";
    CHECK(cut(f, "0123456789").blocks == Blocks{"0123", "4567", "89"});
  }
  SUBCASE("empty lines are records of their own") {
    BlockFormat f = sized(100);
    f.records = 1;
    CHECK(cut(f, "a\n\nb\n").blocks == Blocks{"a\n", "\n", "b\n"});
  }
}

TEST_CASE("block cutter: --recstart and --recend")
{
  std::string fasta = ">a\nAC\n>b\nGT\nTT\n>c\nA\n";
  SUBCASE("--recstart alone: a block starts where a record starts") {
    BlockFormat f = sized(8);
    f.recend = "";
    f.recstart = ">";
    CHECK(cut(f, fasta).blocks == Blocks{">a\nAC\n", ">b\nGT\nTT\n", ">c\nA\n"});
  }
  SUBCASE("both: only where the end is followed by the start") {
    BlockFormat f = sized(12);
    f.recend = "\n";
    f.recstart = ">";
    CHECK(cut(f, fasta).blocks == Blocks{">a\nAC\n", ">b\nGT\nTT\n", ">c\nA\n"});
    f.recstart = "G"; // "\nG" is inside record b only
    CHECK(cut(f, fasta).blocks == Blocks{">a\nAC\n>b\n", "GT\nTT\n>c\nA\n"});
  }
  SUBCASE("garbage before the first record start is a record") {
    BlockFormat f = sized(100);
    f.recend = "";
    f.recstart = ">";
    f.records = 1;
    CHECK(cut(f, "junk\n>a\n>b\n").blocks == Blocks{"junk\n", ">a\n", ">b\n"});
  }
  SUBCASE("a multi-byte --recend") {
    BlockFormat f = sized(9);
    f.recend = "\n\n";
    CHECK(cut(f, "p1\nl2\n\np2\n\np3\n").blocks == Blocks{"p1\nl2\n\n", "p2\n\np3\n"});
  }
}

TEST_CASE("block cutter: --regexp")
{
  BlockFormat f = sized(12);
  f.regexp = true;
  f.recend = "\\n";
  f.recstart = "^>"; // ^ matches at line starts, as with GNU parallel's /m
  CHECK(cut(f, ">a\nAC\n>b\nGT\nTT\n>c\nA\n").blocks ==
        Blocks{">a\nAC\n", ">b\nGT\nTT\n", ">c\nA\n"});
  f.recend = "[0-9]\\n";
  f.recstart = "";
  f.size = 8; // at the end of the input the rest is one block: cut before it
  CHECK(cut(f, "a1\nb\nc2\nd\n").blocks == Blocks{"a1\nb\nc2\n", "d\n"});
  f.records = 1;
  CHECK(cut(f, "a1\nb\nc2\nd\n").blocks == Blocks{"a1\n", "b\nc2\n", "d\n"});
  f.recend = "(";
  CHECK_THROWS_AS(BlockCutter{f}, Error);
}

TEST_CASE("block cutter: -N records and -L lines")
{
  SUBCASE("-N: exactly N records per block, whatever --block says") {
    BlockFormat f = sized(4);
    f.records = 3;
    CHECK(cut(f, lines(1, 10)).blocks ==
          Blocks{"1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"});
  }
  SUBCASE("-L: blocks hold whole L-line records") {
    BlockFormat f = sized(1 << 20);
    f.lines = 3;
    CHECK(cut(f, lines(1, 10)).blocks == Blocks{"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "10\n"});
  }
  SUBCASE("-N with -L: N records of L lines") {
    BlockFormat f = sized(1 << 20);
    f.records = 2;
    f.lines = 2;
    CHECK(cut(f, lines(1, 10)).blocks ==
          Blocks{"1\n2\n3\n4\n", "5\n6\n7\n8\n", "9\n10\n"});
  }
}

TEST_CASE("block cutter: --header is read once and kept apart")
{
  BlockFormat f = sized(4);
  f.header = ":";
  auto r = cut(f, "h\n1\n2\n3\n");
  CHECK(r.header == "h\n");
  CHECK(r.blocks == Blocks{"1\n2\n", "3\n"});
  f.header = "2";
  CHECK(cut(f, "h\ni\n1\n").header == "h\ni\n");
  SUBCASE("a header alone makes no block") {
    f.header = ":";
    auto only = cut(f, "h\n");
    CHECK(only.header == "h\n");
    CHECK(only.blocks.empty());
  }
  SUBCASE("a regular expression that does not match: no header") {
    f.header = "[0-9]+\\n";
    auto none = cut(f, "ab\ncd\n");
    CHECK(none.header.empty());
    CHECK(none.blocks == Blocks{"ab\n", "cd\n"});
  }
  SUBCASE("a regular expression is not matched on a prefix of a longer match") {
    HeaderPattern p("a+\\n?");
    CHECK_FALSE(p.length("aa", false).has_value());
    CHECK(p.length("aa", true) == 2);
    CHECK(p.length("aab", false) == 2);
  }
}

TEST_CASE("block cutter: memory stays within a block of a long stream")
{
  BlockCutter cutter(sized(1000));
  std::string body;
  std::size_t taken = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string line = std::to_string(i) + "\n";
    while (!line.empty()) {
      auto space = cutter.space();
      REQUIRE(space.size() <= 1000);
      std::size_t n = std::min(space.size(), line.size());
      std::copy_n(line.data(), n, space.data());
      cutter.added(n);
      line.erase(0, n);
      while (cutter.take(body)) {
        CHECK(body.size() <= 1000);
        taken += body.size();
      }
    }
  }
  cutter.end();
  while (cutter.take(body)) {
    taken += body.size();
  }
  CHECK(cutter.done());
  CHECK(taken == 588890);
}

TEST_CASE("record boundary: next and last")
{
  RecordBoundary nl("\n", "", false);
  CHECK(nl.next("ab\ncd\n", 0, 1) == 3);
  CHECK(nl.next("ab\ncd\n", 3, 4) == 6);
  CHECK(nl.last("ab\ncd\n", 0) == 6);
  CHECK_FALSE(nl.next("abc", 0, 1).has_value());
  RecordBoundary start("", ">", false);
  CHECK(start.next(">a>b", 0, 1) == 2); // the record start at 0 is no boundary
  CHECK(start.next(">a>b", 2, 2) == 2); // unless an empty record is allowed (--pipepart)
  CHECK_FALSE(start.last(">a", 0).has_value());
  CHECK(start.resume_from(10) == 10);
  CHECK(RecordBoundary("\n\n", ">", false).resume_from(10) == 8);
}

TEST_CASE("pipepart: split points near every block size")
{
  auto dir = test::scratch("pipepart");
  auto split = [&](const std::string& content, std::uint64_t start, std::uint64_t block,
                   RecordBoundary boundary = RecordBoundary("\n", "", false)) {
    std::ofstream(dir / "f", std::ios::binary) << content;
    Fd fd(::open((dir / "f").c_str(), O_RDONLY | O_CLOEXEC));
    return file_split_points(fd.get(), "f", content.size(), start, block, boundary);
  };
  using Points = std::vector<std::uint64_t>;
  std::string ten = lines(1, 10); // 21 bytes
  // From 0, 5 bytes on, to the next record end: 6; then 11 -> 12; 17 -> 18; 23 > 21: the end.
  CHECK(split(ten, 0, 5) == Points{0, 6, 12, 18, 21});
  CHECK(split(ten, 0, 100) == Points{0, 21});
  CHECK(split(ten, 2, 5) == Points{2, 8, 14, 21}); // past a header of 2 bytes
  CHECK(split("", 0, 5) == Points{0});
  CHECK(split("abcdefghij", 0, 3) == Points{0, 10}); // no record end: one block
  CHECK(split("abcdefghij", 0, 3, RecordBoundary("", "", false)) == Points{0, 3, 6, 9, 10});
  std::string big(300000, 'x');
  big[250000] = '\n';
  CHECK(split(big, 0, 10) == Points{0, 250001, 300000}); // found past several probe reads
}

TEST_CASE("cli: --block sizes take GNU parallel's unit suffixes")
{
  using cli::parse_size;
  CHECK(parse_size("100") == 100);
  CHECK(parse_size("1k") == 1000);
  CHECK(parse_size("1K") == 1024);
  CHECK(parse_size("1Ki") == 1024);
  CHECK(parse_size("1ki") == 1024);
  CHECK(parse_size("1m") == 1000000);
  CHECK(parse_size("1M") == 1048576);
  CHECK(parse_size("2G") == 2147483648LL);
  CHECK(parse_size("1.5M") == 1572864);
  CHECK(parse_size("-10") == -10);
  for (const char* bad : {"", "k", "1x", "1MB", "0", "1e30T", "nan"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_size(bad), Error);
  }
}
