// Captured output (memory, then an unlinked spill file), Output's readers, StoredCursor over a
// growing capture, LineTagger, and --json records.
#include "output/format.hpp"
#include "json_check.hpp"
#include "output/spill.hpp"
#include "support.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace parmap;
using parmap::test::JsonMember;
using parmap::test::pattern;

namespace {

std::size_t entries_in(const std::filesystem::path& dir)
{
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++n;
  }
  return n;
}

std::string read_file(const std::filesystem::path& path)
{
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Renders a Piece completely, calling fill() with a fresh buffer each time, as the writer does.
std::string render(Piece& piece, std::size_t max)
{
  std::string all;
  for (int guard = 0; guard < 10000000; ++guard) {
    std::string buf;
    bool more = piece.fill(buf, max);
    all += buf;
    if (!more) {
      return all;
    }
    REQUIRE(!buf.empty()); // progress on every call
  }
  FAIL("fill() never ended");
  return all;
}

Output output_of(const std::string& bytes, SpillFactory& spill, std::size_t limit = 1 << 20)
{
  Capture c;
  if (!bytes.empty()) {
    c.append(bytes, spill, limit);
  }
  return c.finish();
}

const JsonMember* member(const std::vector<JsonMember>& members, const std::string& key)
{
  for (const auto& m : members) {
    if (m.key == key) {
      return &m;
    }
  }
  return nullptr;
}

/// The member's value, or "<missing>".
std::string value_of(const std::vector<JsonMember>& members, const std::string& key)
{
  const JsonMember* m = member(members, key);
  return m != nullptr ? m->value : "<missing>";
}

bool is_kind(const std::vector<JsonMember>& members, const std::string& key, JsonMember::Kind kind)
{
  const JsonMember* m = member(members, key);
  return m != nullptr && m->kind == kind;
}

std::vector<std::string> keys_of(const std::vector<JsonMember>& members)
{
  std::vector<std::string> keys;
  for (const auto& m : members) {
    keys.push_back(m.key);
  }
  return keys;
}

} // namespace

TEST_CASE("spill: Capture keeps small output in memory and never makes a spill file")
{
  // A factory for a directory that does not exist: any attempt to spill would throw.
  SpillFactory nowhere("/nonexistent-parmap-dir/sub");
  Capture c;
  CHECK(c.size() == 0);
  c.append("hello ", nowhere, 16);
  c.append("world", nowhere, 16);
  c.append("", nowhere, 16);
  c.append("!!!!!", nowhere, 16); // exactly at the limit
  CHECK(c.size() == 16);
  CHECK(c.memory_bytes() == 16);
  REQUIRE(c.kept());
  CHECK(c.kept()->extents.empty());
  Output out = c.finish();
  CHECK(out.str() == "hello world!!!!!");
  CHECK(out.size() == 16);
  CHECK(out.kept());
  CHECK(c.size() == 0); // finish resets
  CHECK(c.memory_bytes() == 0);

  SUBCASE("one byte over the limit needs the spill file")
  {
    Capture d;
    d.append(std::string(16, 'a'), nowhere, 16);
    std::string msg;
    try {
      d.append("b", nowhere, 16);
    } catch (const Error& e) {
      msg = e.what();
    }
    CAPTURE(msg);
    CHECK(msg.find("/nonexistent-parmap-dir/sub") != std::string::npos);
  }
  SUBCASE("an empty capture finishes as an empty Output")
  {
    Capture e;
    Output empty = e.finish();
    CHECK(empty.empty());
    CHECK(empty.kept());
    CHECK(empty.str().empty());
    CHECK(empty.tail(10).empty());
    int calls = 0;
    empty.for_each_chunk([&](std::string_view) { ++calls; });
    CHECK(calls == 0);
  }
}

TEST_CASE("spill: Capture spills beyond the limit and keeps bytes in order")
{
  auto dir = test::scratch("spill");
  SpillFactory factory(dir.string());
  const std::size_t limit = 1000;
  Capture c;
  std::string expected;
  std::mt19937 rng(3);
  for (unsigned i = 0; i < 600; ++i) {
    // Mostly small appends, some larger than the limit on their own.
    std::size_t n = i % 50 == 7 ? 3000 + rng() % 5000 : rng() % 400;
    std::string piece = pattern(n, i);
    c.append(piece, factory, limit);
    expected += piece;
    CHECK(c.memory_bytes() <= limit);
    CHECK(c.size() == expected.size());
  }
  REQUIRE(c.kept());
  CHECK_FALSE(c.kept()->extents.empty());
  CHECK(entries_in(dir) == 0); // the spill file has no name
  Output out = c.finish();
  CHECK(out.size() == expected.size());
  CHECK(out.str() == expected);

  SUBCASE("tail")
  {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{999}, std::size_t{1000},
                          std::size_t{70000}, expected.size() - 1, expected.size(),
                          expected.size() + 5}) {
      CAPTURE(n);
      std::string want = n >= expected.size() ? expected : expected.substr(expected.size() - n);
      CHECK(out.tail(n) == want);
    }
  }
  SUBCASE("for_each_chunk")
  {
    std::string joined;
    std::size_t chunks = 0;
    bool bounded = true;
    out.for_each_chunk([&](std::string_view piece) {
      bounded = bounded && piece.size() <= 64 * 1024;
      joined.append(piece);
      ++chunks;
    });
    CHECK(bounded);
    CHECK(joined == expected);
    CHECK(chunks >= expected.size() / (64 * 1024));
  }
  SUBCASE("write_to a regular file")
  {
    auto path = dir / "copy";
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd);
    out.write_to(fd.get());
    fd.reset();
    CHECK(read_file(path) == expected);
  }
  SUBCASE("write_to a pipe read by another thread")
  {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    Fd rd(p[0]), wr(p[1]);
    std::string received;
    std::thread reader([&] {
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          return;
        }
        received.append(buf, static_cast<std::size_t>(n));
      }
    });
    out.write_to(wr.get());
    wr.reset();
    reader.join();
    CHECK(received == expected);
  }
  SUBCASE("copies share the bytes")
  {
    Output copy = out;
    out = Output{};
    CHECK(copy.str() == expected);
  }
}

TEST_CASE("spill: large in-memory outputs are also read in bounded chunks")
{
  SpillFactory nowhere("/nonexistent-parmap-dir");
  std::string big = pattern(200000, 9);
  Output out = output_of(big, nowhere, 1 << 20);
  std::vector<std::size_t> sizes;
  std::string joined;
  out.for_each_chunk([&](std::string_view piece) {
    sizes.push_back(piece.size());
    joined.append(piece);
  });
  CHECK(joined == big);
  CHECK(sizes == std::vector<std::size_t>{65536, 65536, 65536, 200000 - 3 * 65536});
  CHECK(out.tail(5) == big.substr(big.size() - 5));
}

TEST_CASE("spill: captures sharing one spill file stay apart")
{
  auto dir = test::scratch("spill-shared");
  SpillFactory factory(dir.string());
  Capture a, b;
  std::string want_a, want_b;
  for (unsigned i = 0; i < 200; ++i) {
    std::string pa = pattern(300 + i, i);
    std::string pb = pattern(500 + 2 * i, 1000 + i);
    a.append(pa, factory, 700);
    b.append(pb, factory, 700);
    want_a += pa;
    want_b += pb;
  }
  REQUIRE(a.kept());
  REQUIRE(b.kept());
  CHECK(a.kept()->spill == b.kept()->spill); // one file for the run
  CHECK(a.kept()->extents.size() > 1);       // interleaved, so not one contiguous range
  CHECK(a.finish().str() == want_a);
  CHECK(b.finish().str() == want_b);
  CHECK(entries_in(dir) == 0);
}

TEST_CASE("spill: clear, count_only and take_kept")
{
  auto dir = test::scratch("spill-misc");
  SpillFactory factory(dir.string());
  Capture c;
  c.append(pattern(5000, 1), factory, 100);
  c.clear();
  CHECK(c.size() == 0);
  CHECK_FALSE(c.kept());
  c.append("retry", factory, 100);
  CHECK(c.finish().str() == "retry");

  c.append("kept", factory, 100);
  auto taken = c.take_kept();
  REQUIRE(taken);
  CHECK(taken->memory == "kept");
  CHECK_FALSE(c.kept());
  c.count_only(10);
  CHECK(c.size() == 14);
  c.append("more", factory, 100);
  CHECK(c.size() == 18);
  CHECK(c.kept()->memory == "more"); // a fresh store after take_kept
  CHECK(taken->memory == "kept");
}

TEST_CASE("spill: SpillFile is unlinked, private and reads back what it stored")
{
  auto dir = test::scratch("spillfile");
  SpillFile f(dir.string());
  CHECK(f.dir() == dir.string());
  struct stat st {};
  REQUIRE(::fstat(f.fd(), &st) == 0);
  CHECK(st.st_nlink == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(S_ISREG(st.st_mode));
  CHECK(entries_in(dir) == 0);
  CHECK((::fcntl(f.fd(), F_GETFD) & FD_CLOEXEC) != 0);

  std::string one = pattern(10000, 1), two = pattern(3, 2), three = pattern(70000, 3);
  CHECK(f.append(one) == 0);
  CHECK(f.append(two) == 10000);
  CHECK(f.append("") == 10003);
  CHECK(f.append(three) == 10003);
  std::string back(70000, '\0');
  f.read(10003, back.size(), back.data());
  CHECK(back == three);
  std::string mid(5, '\0');
  f.read(9998, 5, mid.data());
  CHECK(mid == one.substr(9998) + two);
  // Reading past the end is an error, not a short read.
  std::string past(10, '\0');
  CHECK_THROWS_AS(f.read(80000, 10, past.data()), Error);

  SUBCASE("a directory that does not exist is an Error naming it")
  {
    std::string msg;
    try {
      SpillFile bad((dir / "missing").string());
    } catch (const Error& e) {
      msg = e.what();
    }
    CAPTURE(msg);
    CHECK(msg.find((dir / "missing").string()) != std::string::npos);
  }
  SUBCASE("an empty directory name means $TMPDIR")
  {
    auto tmp = test::scratch("spill-tmpdir");
    const char* old = std::getenv("TMPDIR");
    std::string saved = old != nullptr ? old : "";
    ::setenv("TMPDIR", tmp.c_str(), 1);
    SpillFile from_env("");
    if (old != nullptr) {
      ::setenv("TMPDIR", saved.c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
    CHECK(from_env.dir() == tmp.string());
    CHECK(entries_in(tmp) == 0);
  }
}

#if defined(__x86_64__) || defined(__aarch64__)
TEST_CASE("spill: SpillFile without O_TMPFILE falls back to an unlinked 0600 file")
{
  // In a child process, a seccomp filter makes every open with O_TMPFILE fail with EOPNOTSUPP,
  // as on a filesystem without it; the child reports what it saw through its exit status.
  auto dir = test::scratch("spill-fallback");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // O_TMPFILE includes O_DIRECTORY (which opendir uses too): test only its own bit.
    constexpr std::uint32_t k_tmpfile_bit = O_TMPFILE & ~O_DIRECTORY;
#if defined(__x86_64__)
    constexpr std::uint32_t k_arch = AUDIT_ARCH_X86_64;
#else
    constexpr std::uint32_t k_arch = AUDIT_ARCH_AARCH64;
#endif
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k_arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])), // flags, low word
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, k_tmpfile_bit, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EOPNOTSUPP & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      ::_exit(77);
    }
    int probe = ::open(dir.c_str(), O_TMPFILE | O_RDWR, 0600);
    if (probe >= 0 || errno != EOPNOTSUPP) {
      ::_exit(78); // the filter did not take
    }
    try {
      SpillFile f(dir.string());
      struct stat st {};
      if (::fstat(f.fd(), &st) != 0) {
        ::_exit(2);
      }
      if (st.st_nlink != 0) {
        ::_exit(3);
      }
      if ((st.st_mode & 07777) != 0600) {
        ::_exit(4);
      }
      if (entries_in(dir) != 0) {
        ::_exit(5);
      }
      std::string data = pattern(5000, 5);
      if (f.append(data) != 0) {
        ::_exit(6);
      }
      std::string back(data.size(), '\0');
      f.read(0, back.size(), back.data());
      if (back != data) {
        ::_exit(7);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "SpillFile threw: %s\n", e.what());
      ::_exit(8);
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  REQUIRE(WIFEXITED(status));
  int code = WEXITSTATUS(status);
  if (code == 77) {
    WARN_MESSAGE(false, "seccomp is not available here: the O_TMPFILE fallback was not tested");
    return;
  }
  // 78 filter ineffective, 2 fstat, 3 still linked, 4 mode, 5 visible, 6-7 I/O, 8 threw
  CHECK(code == 0);
  CHECK(entries_in(dir) == 0);
}
#endif

TEST_CASE("spill: released ranges give their disk space back")
{
  auto dir = test::scratch("spill-release");
  // Only where the filesystem can punch holes.
  {
    auto probe_path = dir / "probe";
    Fd probe(::open(probe_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(probe);
    std::string block(1 << 20, 'p');
    REQUIRE(::write(probe.get(), block.data(), block.size()) ==
            static_cast<ssize_t>(block.size()));
    if (::fallocate(probe.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20) != 0) {
      WARN_MESSAGE(false, "no hole punching on this filesystem: release() not tested");
      return;
    }
    std::filesystem::remove(probe_path);
  }
  SpillFactory factory(dir.string());
  std::shared_ptr<SpillFile> file;
  {
    Capture c;
    c.append(pattern(4 << 20, 4), factory, 1000);
    file = c.kept()->spill;
    Output out = c.finish();
    ::fsync(file->fd());
    struct stat st {};
    REQUIRE(::fstat(file->fd(), &st) == 0);
    CHECK(st.st_blocks * 512 >= (4 << 20));
  } // the last handle on the bytes goes: the range is released
  struct stat st {};
  REQUIRE(::fstat(file->fd(), &st) == 0);
  CHECK(st.st_blocks * 512 < (1 << 20));
  CHECK(st.st_size == (4 << 20)); // offsets stay valid for later appends
}

TEST_CASE("spill: StoredCursor reads up to its limit while the capture keeps growing")
{
  auto dir = test::scratch("cursor");
  SpillFactory factory(dir.string());

  SUBCASE("memory moves to the spill file under a reading cursor")
  {
    Capture c;
    c.append("0123456789", factory, 100);
    StoredCursor cur(c.kept(), 10);
    std::string got;
    REQUIRE(cur.next(got, 3));
    CHECK(got == "012");
    c.append(std::string(200, 'x'), factory, 100); // everything goes to the spill file
    REQUIRE(c.kept()->memory.empty());
    REQUIRE_FALSE(c.kept()->extents.empty());
    REQUIRE(cur.next(got, 4));
    CHECK(got == "0123456");
    REQUIRE(cur.next(got, 100));
    CHECK(got == "0123456789"); // stops at the limit, not at the 'x's
    CHECK_FALSE(cur.next(got, 100));
    CHECK(got == "0123456789");
  }
  SUBCASE("an unlimited cursor catches up, then sees later bytes")
  {
    Capture c;
    c.append("ab", factory, 100);
    StoredCursor cur(c.kept());
    std::string got;
    CHECK(cur.next(got, 10));
    CHECK_FALSE(cur.next(got, 10));
    c.append("cd", factory, 100);
    CHECK(cur.next(got, 10));
    c.append(std::string(150, 'e'), factory, 100);
    while (cur.next(got, 7)) {
    }
    CHECK(got == "abcd" + std::string(150, 'e'));
  }
  SUBCASE("a null store reads nothing")
  {
    StoredCursor cur(nullptr);
    std::string got;
    CHECK_FALSE(cur.next(got, 10));
  }
  SUBCASE("random appends, a neighbour sharing the file, cursors made along the way")
  {
    std::mt19937 rng(11);
    for (int round = 0; round < 20; ++round) {
      CAPTURE(round);
      Capture c, neighbour;
      std::string all;
      struct Reader {
        std::unique_ptr<StoredCursor> cursor;
        std::uint64_t limit;
        std::string got;
      };
      std::vector<Reader> readers;
      for (int step = 0; step < 120; ++step) {
        switch (rng() % 4) {
        case 0:
        case 1: {
          std::string piece = pattern(rng() % 700, static_cast<unsigned>(round * 1000 + step));
          c.append(piece, factory, 1000);
          all += piece;
          break;
        }
        case 2:
          neighbour.append(pattern(rng() % 900, 7), factory, 1000);
          break;
        default:
          if (c.kept()) {
            bool limited = rng() % 3 != 0;
            std::uint64_t limit = limited ? all.size() : UINT64_MAX;
            readers.push_back({std::make_unique<StoredCursor>(c.kept(), limit), limit, ""});
          }
          break;
        }
        for (auto& r : readers) {
          if (rng() % 2 == 0) {
            r.cursor->next(r.got, 1 + rng() % 500);
          }
          // A cursor never reads past the bytes that exist, and reads them as they are.
          if (r.got.size() > all.size() || all.compare(0, r.got.size(), r.got) != 0) {
            REQUIRE(r.got == all.substr(0, r.got.size()));
          }
        }
      }
      for (auto& r : readers) {
        while (r.cursor->next(r.got, 1 + rng() % 5000)) {
        }
        std::string want = r.limit == UINT64_MAX ? all : all.substr(0, r.limit);
        CHECK(r.got == want);
      }
    }
  }
}

TEST_CASE("spill: LineTagger prefixes every line across chunk boundaries")
{
  auto tag_all = [](std::string_view text, const std::vector<std::size_t>& cuts,
                    bool at_start = true) {
    LineTagger t("P\t", at_start);
    std::string out;
    test::feed_in_pieces(text, cuts, [&](std::string_view piece) { t.apply(piece, out); });
    return out;
  };
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"a", "P\ta"},
      {"a\n", "P\ta\n"},
      {"a\nb", "P\ta\nP\tb"},
      {"a\nb\n", "P\ta\nP\tb\n"},
      {"\n", "P\t\n"},
      {"\n\n", "P\t\nP\t\n"},
      {"x\r\ny", "P\tx\r\nP\ty"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    for (std::size_t a = 0; a <= c.in.size(); ++a) {
      for (std::size_t b = a; b <= c.in.size(); ++b) {
        CHECK(tag_all(c.in, {a, b}) == c.out);
      }
    }
  }
  CHECK(tag_all("rest\nnew", {}, false) == "rest\nP\tnew");
  CHECK(tag_all("", {}, false) == "");
  CHECK(tag_prefix(std::vector<std::string>{"a b"}) == "a b\t");
  CHECK(tag_prefix(std::vector<std::string>{""}) == "\t");
  CHECK(tag_prefix(std::vector<std::string>{"a", "b c"}) == "a\tb c\t");
}

TEST_CASE("spill: StoredPiece writes stored bytes raw or tagged")
{
  auto dir = test::scratch("piece");
  SpillFactory factory(dir.string());
  Capture c;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    std::string line = "line " + std::to_string(i) + (i % 7 == 0 ? "" : " with more words") + "\n";
    c.append(line, factory, 4096);
    text += line;
  }
  c.append("no newline at the end", factory, 4096);
  text += "no newline at the end";
  REQUIRE_FALSE(c.kept()->extents.empty());

  std::string tagged;
  {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      tagged += "item\t" + line + (lines.eof() ? "" : "\n");
    }
  }
  for (std::size_t max : {std::size_t{1}, std::size_t{13}, std::size_t{4096}, std::size_t{1} << 20}) {
    CAPTURE(max);
    StoredPiece raw(c.kept(), nullptr);
    CHECK(render(raw, max) == text);
    StoredPiece with_tag(c.kept(), std::make_unique<LineTagger>(tag_prefix(std::vector<std::string>{"item"})));
    CHECK(render(with_tag, max) == tagged);
    StoredPiece limited(c.kept(), nullptr, 100);
    CHECK(render(limited, max) == text.substr(0, 100));
  }
}

TEST_CASE("spill: make_json_record renders one valid JSON line")
{
  auto dir = test::scratch("json");
  SpillFactory factory(dir.string());

  SUBCASE("exact text of a simple record")
  {
    Result r;
    r.seq = 7;
    r.item = "x\"y";
    r.args = {"x\"y"};
    r.status = Status::failed;
    r.exit_code = 3;
    r.duration = 1.5;
    r.attempts = 2;
    r.out = output_of("hello\n", factory);
    auto piece = make_json_record(r);
    CHECK(render(*piece, 1 << 16) ==
          "{\"seq\":7,\"item\":\"x\\\"y\",\"args\":[\"x\\\"y\"],\"status\":\"failed\",\"exit\":3,\"signal\":null,"
          "\"duration_s\":1.500000,\"attempts\":2,\"replayed\":false,\"stdout\":\"hello\\n\","
          "\"stderr\":\"\"}\n");
  }
  SUBCASE("signals, replayed, statuses")
  {
    Result r;
    r.seq = 1;
    r.item = "i";
    r.status = Status::signaled;
    r.exit_code = 137;
    r.signal = 9;
    r.replayed = true;
    r.err = output_of("killed\n", factory);
    std::string line = render(*make_json_record(r), 1 << 16);
    auto parsed = test::parse_flat_object(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE(parsed);
    CHECK(value_of(*parsed, "status") == "signaled");
    CHECK(value_of(*parsed, "signal") == "9");
    CHECK(is_kind(*parsed, "signal", JsonMember::Kind::number));
    CHECK(value_of(*parsed, "exit") == "137");
    CHECK(value_of(*parsed, "replayed") == "true");
    CHECK(value_of(*parsed, "stdout") == "");
    CHECK(value_of(*parsed, "stderr") == "killed\n");
    r.status = Status::timeout;
    line = render(*make_json_record(r), 1 << 16);
    parsed = test::parse_flat_object(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE(parsed);
    CHECK(value_of(*parsed, "status") == "timeout");
  }

  struct Case {
    const char* what;
    std::string item, out, err;
    std::size_t limit; ///< in-memory limit for the captures
  };
  std::string accents;
  for (int i = 0; i < 70000; ++i) {
    accents += "\xC3\xA9\xE2\x82\xAC\n\"\\\x01";
  }
  std::string broken;
  for (int i = 0; i < 50000; ++i) {
    broken += i % 1000 == 999 ? "\xE2\x82" : "ab\xFF\xC3\xA9";
  }
  const std::vector<Case> cases = {
      {"all valid, in memory", "file \xC3\xA9.txt", "out\n", "err\n", 1 << 20},
      {"all valid, spilled, sequences across chunks", "it", accents, accents.substr(0, 4000), 1000},
      {"invalid item", "bad\xFF\xFEitem", "o", "", 1 << 20},
      {"invalid stdout, spilled", "i", broken, "fine", 1000},
      {"invalid stderr only", "i", "fine", "\x80", 1 << 20},
      {"everything invalid", "\xC0", "\xED\xA0\x80", "tail\xE2", 4},
      {"empty everything", "", "", "", 1 << 20},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Result r;
    r.seq = 12;
    r.item = c.item;
    r.args = {c.item};
    r.status = Status::ok;
    r.duration = 0.25;
    r.out = output_of(c.out, factory, c.limit);
    r.err = output_of(c.err, factory, c.limit);
    // Tiny fills only on small records: one byte per call is slow on hundreds of KB.
    std::size_t smallest = c.out.size() + c.err.size() > 10000 ? 97 : 1;
    for (std::size_t max : {smallest, std::size_t{4097}, std::size_t{128 * 1024}}) {
      CAPTURE(max);
      std::string line = render(*make_json_record(r), max);
      REQUIRE(line.size() >= 2);
      CHECK(line.back() == '\n');
      CHECK(line.find('\n') == line.size() - 1); // one line
      CHECK(test::utf8_ok(line));
      auto parsed = test::parse_flat_object(std::string_view(line).substr(0, line.size() - 1));
      REQUIRE(parsed);

      bool item_ok = test::utf8_ok(c.item);
      bool out_ok = test::utf8_ok(c.out);
      bool err_ok = test::utf8_ok(c.err);
      std::vector<std::string> keys = {"seq", "item"};
      if (!item_ok) {
        keys.emplace_back("item_b64");
      }
      keys.emplace_back("args");
      if (!item_ok) {
        keys.emplace_back("args_b64");
      }
      for (const char* k : {"status", "exit", "signal", "duration_s", "attempts", "replayed",
                            "stdout"}) {
        keys.emplace_back(k);
      }
      if (!out_ok) {
        keys.emplace_back("stdout_b64");
      }
      keys.emplace_back("stderr");
      if (!err_ok) {
        keys.emplace_back("stderr_b64");
      }
      CHECK(keys_of(*parsed) == keys);

      CHECK(value_of(*parsed, "seq") == "12");
      const JsonMember* args = member(*parsed, "args");
      REQUIRE(args);
      CHECK(args->strings.size() == 1);
      CHECK(value_of(*parsed, "status") == "ok");
      CHECK(is_kind(*parsed, "duration_s", JsonMember::Kind::number));
      CHECK(value_of(*parsed, "attempts") == "1");
      CHECK(is_kind(*parsed, "signal", JsonMember::Kind::null));
      struct Field {
        const char* name;
        const std::string& bytes;
        bool valid;
      };
      for (const Field& f : {Field{"item", c.item, item_ok}, Field{"stdout", c.out, out_ok},
                             Field{"stderr", c.err, err_ok}}) {
        CAPTURE(f.name);
        const JsonMember* text = member(*parsed, f.name);
        REQUIRE(text);
        CHECK(text->kind == JsonMember::Kind::string);
        if (f.valid) {
          CHECK(text->value == f.bytes);
        } else {
          // The text field is the lossy copy, the _b64 field the exact bytes.
          CHECK(text->value != f.bytes);
          CHECK(test::utf8_ok(text->value));
          CHECK(text->value.find("\xEF\xBF\xBD") != std::string::npos);
          const JsonMember* b64 = member(*parsed, std::string(f.name) + "_b64");
          REQUIRE(b64);
          CHECK(test::b64_decode(b64->value) == f.bytes);
        }
      }
    }
  }
}
