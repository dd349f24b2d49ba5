// OutputWriter: non-blocking writes to pipes, sockets and files through a Reactor, marks
// reported only once the bytes before them are written, EPIPE, writev gathering.
#include "support.hpp"
#include "output/writer.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace parmap;
using namespace std::chrono_literals;
using parmap::test::pattern;

namespace {

/// A lazy piece: `total` bytes of a pattern, produced at most `max` at a time.
class GenPiece final : public Piece {
public:
  GenPiece(std::size_t total, unsigned seed) : m_bytes(pattern(total, seed)) {}
  bool fill(std::string& buf, std::size_t max) override
  {
    std::size_t n = std::min(max, m_bytes.size() - m_at);
    buf.append(m_bytes, m_at, n);
    m_at += n;
    ++fills;
    return m_at < m_bytes.size();
  }
  int fills = 0;

private:
  std::string m_bytes;
  std::size_t m_at = 0;
};

struct TestPipe {
  Fd read;
  Fd write;
  /// A pipe; the read end is non-blocking (the test's own end), the capacity set when asked.
  explicit TestPipe(int capacity = 0)
  {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    read.reset(p[0]);
    write.reset(p[1]);
    REQUIRE(::fcntl(read.get(), F_SETFL, ::fcntl(read.get(), F_GETFL) | O_NONBLOCK) == 0);
    if (capacity > 0) {
      REQUIRE(::fcntl(write.get(), F_SETPIPE_SZ, capacity) >= capacity);
    }
  }
  /// Bytes written into the pipe and not read yet.
  std::size_t pending() const
  {
    int n = 0;
    REQUIRE(::ioctl(read.get(), FIONREAD, &n) == 0);
    return static_cast<std::size_t>(n);
  }
  /// Reads up to `max` bytes that are there now.
  std::size_t drain_some(std::string& into, std::size_t max)
  {
    std::size_t got = 0;
    char buf[16384];
    while (got < max) {
      ssize_t n = ::read(read.get(), buf, std::min(sizeof buf, max - got));
      if (n <= 0) {
        break;
      }
      into.append(buf, static_cast<std::size_t>(n));
      got += static_cast<std::size_t>(n);
    }
    return got;
  }
};

/// Ignores SIGPIPE for the scope, as the engine does while it writes.
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe()
  {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;
};

std::string read_file(const std::filesystem::path& path)
{
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Fd open_file(const std::filesystem::path& path)
{
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  REQUIRE(fd);
  return fd;
}

/// Runs the reactor, letting `reader` take some bytes between waits, until `done` or 20 s.
template <typename Reader, typename Done>
void run_until(Reactor& reactor, Reader&& reader, Done&& done)
{
  auto deadline = Clock::now() + 20s;
  while (!done()) {
    REQUIRE(Clock::now() < deadline);
    reader();
    reactor.run_once(Clock::now() + 20ms);
  }
}

} // namespace

TEST_CASE("writer: a slow pipe reader gets every byte, in order")
{
  Reactor reactor;
  TestPipe pipe;
  OutputWriter w(reactor, pipe.write.get(), -1);
  std::vector<std::uint64_t> written;
  w.set_on_written([&](std::uint64_t seq) { written.push_back(seq); });

  std::string expected;
  std::size_t in_memory = 0;
  for (unsigned i = 0; i < 400; ++i) {
    if (i % 40 == 39) {
      auto piece = std::make_unique<GenPiece>(300000 + i, i); // larger than one fill chunk
      expected += pattern(300000 + i, i);
      w.write(0, std::move(piece));
    } else {
      std::string bytes = pattern(1 + (i * 7919) % 6000, i);
      expected += bytes;
      in_memory += bytes.size();
      w.write(0, std::move(bytes));
    }
  }
  CHECK(w.queued_bytes() == in_memory);
  w.mark(1);
  // The pipe is full and nothing is read: the writer waits instead of blocking.
  CHECK_FALSE(w.idle());
  CHECK(written.empty());
  CHECK(w.state() == WriteState::ok);
  CHECK(pipe.pending() > 0);
  CHECK(pipe.pending() < expected.size());

  std::string received;
  run_until(
      reactor, [&] { pipe.drain_some(received, 16384); },
      [&] { return w.idle() && written.size() == 1; });
  pipe.drain_some(received, SIZE_MAX);
  CHECK(received.size() == expected.size());
  CHECK(received == expected);
  CHECK(written == std::vector<std::uint64_t>{1});
  CHECK(w.queued_bytes() == 0);
  CHECK(w.state() == WriteState::ok);
}

TEST_CASE("writer: marks are reported only after the bytes before them")
{
  Reactor reactor;
  TestPipe pipe;
  OutputWriter w(reactor, pipe.write.get(), -1);
  std::string received;
  std::vector<std::pair<std::uint64_t, std::size_t>> reports; // (seq, bytes out of the writer)
  w.set_on_written([&](std::uint64_t seq) {
    reports.emplace_back(seq, received.size() + pipe.pending());
  });

  std::string a = pattern(300000, 1), b = pattern(10, 2), c = pattern(500000, 3);
  w.write(0, a);
  w.mark(1);
  w.write(0, b);
  w.mark(2);
  w.mark(3); // nothing between two marks
  w.write(0, std::make_unique<GenPiece>(c.size(), 3));
  w.mark(4);
  CHECK(reports.empty());

  run_until(
      reactor, [&] { pipe.drain_some(received, 16384); },
      [&] { return reports.size() == 4; });
  pipe.drain_some(received, SIZE_MAX);
  CHECK(received == a + b + c);
  REQUIRE(reports.size() == 4);
  CHECK(reports[0].first == 1);
  CHECK(reports[1].first == 2);
  CHECK(reports[2].first == 3);
  CHECK(reports[3].first == 4);
  // Each mark after its bytes...
  CHECK(reports[0].second >= a.size());
  CHECK(reports[1].second >= a.size() + b.size());
  CHECK(reports[2].second >= a.size() + b.size());
  CHECK(reports[3].second == a.size() + b.size() + c.size());
  // ...and promptly: within a pipe's worth of bytes after them, not at the very end.
  CHECK(reports[0].second < a.size() + b.size() + 2 * 65536 + 131072);
}

TEST_CASE("writer: a mark waits for both streams")
{
  auto dir = test::scratch("writer-both");
  SUBCASE("stderr blocked, stdout a file")
  {
    Reactor reactor;
    TestPipe err;
    Fd out = open_file(dir / "out");
    OutputWriter w(reactor, out.get(), err.write.get());
    std::string err_received;
    std::vector<std::pair<std::uint64_t, std::size_t>> reports;
    w.set_on_written([&](std::uint64_t seq) {
      reports.emplace_back(seq, err_received.size() + err.pending());
    });
    std::string big = pattern(400000, 5);
    w.write(0, std::string("out1\n"));
    w.write(1, big);
    w.mark(1);
    w.write(0, std::string("out2\n"));
    w.mark(2);
    // stdout is complete already; stderr is not, so neither item counts as written.
    CHECK(read_file(dir / "out") == "out1\nout2\n");
    CHECK(reports.empty());
    run_until(
        reactor, [&] { err.drain_some(err_received, 16384); },
        [&] { return reports.size() == 2; });
    err.drain_some(err_received, SIZE_MAX);
    CHECK(err_received == big);
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].first == 1);
    CHECK(reports[0].second >= big.size());
    CHECK(reports[1].first == 2);
  }
  SUBCASE("stdout blocked, stderr a file")
  {
    Reactor reactor;
    TestPipe out;
    Fd err = open_file(dir / "err");
    OutputWriter w(reactor, out.write.get(), err.get());
    std::string out_received;
    std::vector<std::pair<std::uint64_t, std::size_t>> reports;
    w.set_on_written([&](std::uint64_t seq) {
      reports.emplace_back(seq, out_received.size() + out.pending());
    });
    std::string big = pattern(300000, 6);
    w.write(1, std::string("e1"));
    w.write(0, big);
    w.mark(7);
    w.write(1, std::string("e2"));
    w.mark(8);
    CHECK(read_file(dir / "err") == "e1e2");
    CHECK(reports.empty());
    run_until(
        reactor, [&] { out.drain_some(out_received, 16384); },
        [&] { return reports.size() == 2; });
    out.drain_some(out_received, SIZE_MAX);
    CHECK(out_received == big);
    REQUIRE(reports.size() == 2);
    CHECK(reports[0] == std::make_pair(std::uint64_t{7}, big.size()));
    CHECK(reports[1].first == 8);
  }
}

TEST_CASE("writer: a regular file is written at once")
{
  auto dir = test::scratch("writer-file");
  Reactor reactor;
  Fd out = open_file(dir / "out");
  Fd err = open_file(dir / "err");
  OutputWriter w(reactor, out.get(), err.get());
  std::vector<std::uint64_t> written;
  w.set_on_written([&](std::uint64_t seq) { written.push_back(seq); });
  std::string expected_out, expected_err;
  for (unsigned i = 1; i <= 50; ++i) {
    std::string o = pattern(i * 997, i), e = "err " + std::to_string(i) + "\n";
    expected_out += o;
    expected_err += e;
    w.write(0, o);
    w.write(1, e);
    if (i % 10 == 0) {
      auto lazy = std::make_unique<GenPiece>(200000, i);
      expected_out += pattern(200000, i);
      w.write(0, std::move(lazy));
    }
    w.mark(i);
    CHECK(written.size() == i); // reported during mark(): nothing had to wait
  }
  CHECK(w.idle());
  CHECK(w.queued_bytes() == 0);
  CHECK(read_file(dir / "out") == expected_out);
  CHECK(read_file(dir / "err") == expected_err);
  w.flush(); // nothing left: returns at once
  CHECK(w.state() == WriteState::ok);
}

TEST_CASE("writer: writev gathers many small pieces, split anywhere")
{
  // A one-page pipe: every gathered write stops part-way through some piece.
  Reactor reactor;
  TestPipe pipe(4096);
  OutputWriter w(reactor, pipe.write.get(), -1);
  bool marked = false;
  w.set_on_written([&](std::uint64_t) { marked = true; });
  std::string expected;
  for (unsigned i = 0; i < 3000; ++i) {
    std::string piece = pattern(1 + (i * 31) % 700, i);
    expected += piece;
    w.write(0, std::move(piece));
    if (i % 500 == 250) {
      w.write(0, std::make_unique<GenPiece>(5000, i)); // a lazy piece between gathered runs
      expected += pattern(5000, i);
    }
    w.write(0, std::string()); // empty writes are ignored
  }
  w.mark(1);
  std::string received;
  // Read whole pages: a partly read page does not make a one-page pipe writable.
  run_until(
      reactor, [&] { pipe.drain_some(received, 1 << 20); }, [&] { return marked; });
  pipe.drain_some(received, SIZE_MAX);
  CHECK(received.size() == expected.size());
  CHECK(received == expected);

  SUBCASE("to a file as well")
  {
    auto dir = test::scratch("writer-writev");
    Fd out = open_file(dir / "out");
    Reactor r2;
    OutputWriter w2(r2, out.get(), -1);
    std::string want;
    for (unsigned i = 0; i < 1000; ++i) {
      std::string piece = pattern(i % 13, i);
      want += piece;
      w2.write(0, std::move(piece));
    }
    w2.mark(1);
    CHECK(w2.idle());
    CHECK(read_file(dir / "out") == want);
  }
}

TEST_CASE("writer: flush() waits in the reactor while another thread reads")
{
  Reactor reactor;
  TestPipe pipe;
  // The reader thread reads blocking from its own end.
  REQUIRE(::fcntl(pipe.read.get(), F_SETFL, ::fcntl(pipe.read.get(), F_GETFL) & ~O_NONBLOCK) == 0);
  OutputWriter w(reactor, pipe.write.get(), -1);
  std::string expected;
  for (unsigned i = 0; i < 64; ++i) {
    std::string piece = pattern(65536 + i, i);
    expected += piece;
    w.write(0, std::move(piece));
  }
  std::string received;
  std::thread reader([&] {
    char buf[8192];
    while (received.size() < expected.size()) {
      ssize_t n = ::read(pipe.read.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;
      }
      received.append(buf, static_cast<std::size_t>(n));
    }
  });
  w.flush();
  CHECK(w.idle());
  CHECK(w.state() == WriteState::ok);
  reader.join();
  CHECK(received == expected);
}

TEST_CASE("writer: a closed reader gives WriteState::closed")
{
  IgnoreSigpipe ignore;
  SUBCASE("closed before the writer was made")
  {
    Reactor reactor;
    TestPipe pipe;
    pipe.read.reset();
    OutputWriter w(reactor, pipe.write.get(), -1);
    w.write(0, std::string("data"));
    w.mark(1);
    w.flush();
    CHECK(w.state() == WriteState::closed);
    CHECK(w.error().find("Broken pipe") != std::string::npos);
  }
  SUBCASE("closed while the writer waits on a full pipe")
  {
    Reactor reactor;
    TestPipe pipe;
    OutputWriter w(reactor, pipe.write.get(), -1);
    bool marked = false;
    w.set_on_written([&](std::uint64_t) { marked = true; });
    w.write(0, pattern(1 << 20, 1));
    w.mark(1);
    REQUIRE_FALSE(w.idle());
    CHECK(w.state() == WriteState::ok);
    pipe.read.reset();
    w.flush(); // wakes on the error, writes, gets EPIPE, and stops
    CHECK(w.state() == WriteState::closed);
    CHECK_FALSE(marked); // its bytes never arrived
    CHECK(w.error().find("stdout") != std::string::npos);
  }
  SUBCASE("a broken stderr drops its bytes; items still count as written")
  {
    auto dir = test::scratch("writer-epipe");
    Reactor reactor;
    Fd out = open_file(dir / "out");
    TestPipe err;
    OutputWriter w(reactor, out.get(), err.write.get());
    std::vector<std::uint64_t> written;
    w.set_on_written([&](std::uint64_t seq) { written.push_back(seq); });
    err.read.reset();
    w.write(1, std::string("lost"));
    w.write(0, std::string("kept1"));
    w.mark(1);
    w.write(1, std::string("lost too"));
    w.write(0, std::string("kept2"));
    w.mark(2);
    w.flush();
    CHECK(w.state() == WriteState::ok);
    CHECK(written == std::vector<std::uint64_t>{1, 2});
    CHECK(w.queued_bytes() == 0);
    CHECK(read_file(dir / "out") == "kept1kept2");
  }
}

TEST_CASE("writer: sockets are written without SIGPIPE")
{
  SUBCASE("a slow socket reader gets every byte")
  {
    Reactor reactor;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Fd mine(sv[0]), theirs(sv[1]);
    REQUIRE(::fcntl(theirs.get(), F_SETFL, O_NONBLOCK) == 0);
    OutputWriter w(reactor, mine.get(), -1);
    bool marked = false;
    w.set_on_written([&](std::uint64_t) { marked = true; });
    std::string expected;
    for (unsigned i = 0; i < 100; ++i) {
      std::string piece = pattern(20000 + i, i);
      expected += piece;
      w.write(0, std::move(piece));
    }
    w.mark(1);
    CHECK_FALSE(marked);
    std::string received;
    // Take what is there (a socket becomes writable only once enough of it was read).
    auto read_some = [&] {
      char buf[16384];
      ssize_t n = 0;
      while ((n = ::recv(theirs.get(), buf, sizeof buf, 0)) > 0) {
        received.append(buf, static_cast<std::size_t>(n));
      }
    };
    run_until(reactor, read_some, [&] { return marked; });
    while (received.size() < expected.size()) {
      char buf[16384];
      ssize_t n = ::recv(theirs.get(), buf, sizeof buf, 0);
      REQUIRE(n > 0);
      received.append(buf, static_cast<std::size_t>(n));
    }
    CHECK(received == expected);
  }
  SUBCASE("a closed peer is WriteState::closed, and the process survives")
  {
    // In a child with SIGPIPE at its default action: a SIGPIPE would kill it.
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::signal(SIGPIPE, SIG_DFL);
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ::_exit(2);
      }
      ::close(sv[1]);
      {
        Reactor reactor;
        OutputWriter w(reactor, sv[0], -1);
        w.write(0, std::string("hello"));
        w.mark(1);
        w.flush();
        if (w.state() != WriteState::closed) {
          ::_exit(3);
        }
      }
      ::_exit(0);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    CHECK_FALSE(WIFSIGNALED(status));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("writer: absent streams and empty writes")
{
  Reactor reactor;
  auto dir = test::scratch("writer-absent");
  Fd out = open_file(dir / "out");
  OutputWriter w(reactor, out.get(), -1);
  std::vector<std::uint64_t> written;
  w.set_on_written([&](std::uint64_t seq) { written.push_back(seq); });
  w.write(1, std::string("nowhere")); // no stderr: dropped
  CHECK(w.queued_bytes() == 0);
  w.write(0, std::string());
  CHECK(w.idle());
  w.mark(3);
  CHECK(written == std::vector<std::uint64_t>{3});
  CHECK(read_file(dir / "out").empty());

  SUBCASE("no streams at all")
  {
    Reactor r2;
    OutputWriter none(r2, -1, -1);
    bool marked = false;
    none.set_on_written([&](std::uint64_t) { marked = true; });
    none.write(0, std::string("x"));
    none.mark(1);
    CHECK(marked);
    CHECK(none.idle());
  }
}

TEST_CASE("writer: other write errors give WriteState::failed")
{
  Fd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  if (!full) {
    WARN_MESSAGE(false, "no /dev/full here: WriteState::failed not tested");
    return;
  }
  Reactor reactor;
  OutputWriter w(reactor, full.get(), -1);
  bool marked = false;
  w.set_on_written([&](std::uint64_t) { marked = true; });
  w.write(0, std::string("no room"));
  w.mark(1);
  w.flush();
  CHECK(w.state() == WriteState::failed);
  CHECK(w.error().find("No space left") != std::string::npos);
  CHECK_FALSE(marked);
}

TEST_CASE("writer: a reader that left is noticed while nothing is being written")
{
  IgnoreSigpipe ignore;
  Reactor reactor;
  TestPipe pipe;
  OutputWriter w(reactor, pipe.write.get(), -1);
  w.write(0, std::string("one line\n"));
  w.mark(1);
  w.flush();
  CHECK(w.bytes_written() == 9);
  REQUIRE(w.idle());
  pipe.read.reset(); // the reader goes away; nothing is queued
  reactor.run_once(Clock::now() + std::chrono::seconds(5));
  w.pump();
  CHECK(w.state() == WriteState::closed);
}

TEST_CASE("writer: a file as stdout is not watched while idle")
{
  auto dir = test::scratch("writer-idle-file");
  Reactor reactor;
  Fd out = open_file(dir / "out");
  OutputWriter w(reactor, out.get(), -1);
  w.write(0, std::string("x"));
  w.flush();
  auto t0 = Clock::now();
  reactor.run_once(t0 + std::chrono::milliseconds(50)); // nothing registered: just the wait
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(50));
  CHECK(w.state() == WriteState::ok);
}
