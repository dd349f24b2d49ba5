// The agent protocol: every message survives encoding and framing byte for byte, however the
// stream is cut; garbage, truncation and oversized frames are refused with a ProtocolError;
// the greeting is found after a login script's chatter. The Outbox keeps frames in order
// across memory, spill file and files read lazily, and a Connection pings and notices silence.
#include "exec/agent/connection.hpp"
#include "exec/agent/outbox.hpp"
#include "exec/agent/protocol.hpp"
#include "support.hpp"

#include "parmap/parmap.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

using namespace parmap;
using namespace parmap::agent;
using parmap::test::pattern;

namespace {

std::vector<Message> samples()
{
  std::string binary = pattern(200000, 7);
  binary[5] = '\0';
  Run run;
  run.seq = 1ULL << 40;
  run.slot = 3;
  run.timeout = 2.5;
  run.argv = {"/bin/sh", "-c", "echo \"$1\"", "sh", std::string("a\0b\n'\"", 6)};
  run.env = {"PARMAP_SEQ=7", "X="};
  run.returns = {"out/-x y"};
  run.remove = {"a", "b"};
  Ended ended;
  ended.seq = 9;
  ended.status = Status::timeout;
  ended.exit_code = 124;
  ended.signal = 15;
  ended.started = 1.7e9;
  ended.duration = 0.125;
  ended.interrupted = true;
  return {Setup{4, 0.5, "...", {"A=1", "PARMAP_HOST=h"}, true, 5, HoldAfter{true, false}},
          run,
          Cancel{12, 2},
          KillAll{},
          Hello{64, "host\n1", "12.3"},
          Started{3},
          ItemOutput{5, Stream::err, binary},
          ended,
          Fatal{"no"},
          FileBegin{2, "dir/ odd\nname", 0755},
          FileData{binary},
          FileEnd{"gone"},
          Ping{},
          Release{3}};
}

std::string frames_of(const std::vector<Message>& messages)
{
  std::string stream;
  for (const auto& m : messages) {
    append_frame(stream, m);
  }
  return stream;
}

std::vector<Message> read_all(FrameReader& reader)
{
  std::vector<Message> out;
  while (auto frame = reader.next()) {
    out.push_back(decode(*frame));
  }
  return out;
}

/// Frames as they are encoded: equal messages encode equally.
std::string encoded(const Message& m)
{
  std::string s;
  append_frame(s, m);
  return s;
}

} // namespace

TEST_CASE("agent protocol: every message round-trips, in one piece and cut anywhere")
{
  auto messages = samples();
  std::string stream = greeting() + frames_of(messages);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{19},
                          std::size_t{40}, stream.size() / 2, stream.size() - 1}) {
    FrameReader reader(true);
    std::vector<Message> got;
    reader.feed(std::string_view(stream).substr(0, cut));
    for (auto& m : read_all(reader)) {
      got.push_back(std::move(m));
    }
    reader.feed(std::string_view(stream).substr(cut));
    for (auto& m : read_all(reader)) {
      got.push_back(std::move(m));
    }
    REQUIRE(got.size() == messages.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].index() == messages[i].index());
      CHECK(encoded(got[i]) == encoded(messages[i]));
    }
    REQUIRE(reader.greeting().has_value());
    CHECK(reader.greeting()->protocol == k_protocol_version);
    CHECK(reader.buffered() == 0);
  }
  CHECK(std::get<Run>(decode(encoded(messages[1]).substr(4))).argv[4] ==
        std::string("a\0b\n'\"", 6));
}

TEST_CASE("agent protocol: the output frame of the hot path is an ItemOutput message")
{
  std::string frame;
  append_output_frame(frame, 77, Stream::err, "bytes");
  auto m = std::get<ItemOutput>(decode(std::string_view(frame).substr(4)));
  CHECK(m.seq == 77);
  CHECK(m.stream == Stream::err);
  CHECK(m.bytes == "bytes");
  CHECK(frame == encoded(ItemOutput{77, Stream::err, "bytes"}));
}

TEST_CASE("agent protocol: the greeting is found after a login script's lines")
{
  FrameReader reader(true);
  reader.feed("Welcome!\nPARMAP-AGENTX 1\nPARMAP-AGENT 7 9.9.9-rc1\n");
  CHECK_THROWS_AS(reader.next(), VersionMismatch); // another protocol: nothing more is read
  CHECK_THROWS_AS(reader.next(), VersionMismatch);
  REQUIRE(reader.greeting());
  CHECK(reader.greeting()->protocol == 7);
  CHECK(reader.greeting()->version == "9.9.9-rc1");
  CHECK(reader.preamble() == "Welcome!\nPARMAP-AGENTX 1\n");
  FrameReader same(true);
  same.feed("Welcome!\n" + greeting());
  CHECK_FALSE(same.next());
  CHECK(same.greeting()->version == version());
}

TEST_CASE("agent protocol: garbage is refused, not guessed at")
{
  auto refuses = [](std::string bytes, bool greeting_first) {
    FrameReader reader(greeting_first);
    reader.feed(bytes);
    CHECK_THROWS_AS(read_all(reader), ProtocolError);
  };
  refuses(std::string("\xff\xff\xff\x7f", 4) + "x", false); // an oversized length
  refuses(std::string("\0\0\0\0", 4), false);                 // an empty frame
  refuses(std::string("\x01\0\0\0\x63", 5), false);           // an unknown type
  std::string frame = encoded(Started{5});
  frame[0] = static_cast<char>(frame[0] - 1); // the length no longer covers the field
  refuses(frame, false);
  std::string longer = encoded(Ping{});
  longer[0] = 2;
  longer += 'x'; // a byte past the fields
  refuses(longer, false);
  refuses("PARMAP-AGENT one\n", true);
  refuses(std::string(k_max_preamble + 10, 'x') + "\n", true);
  refuses(std::string(k_max_preamble + 10, 'x'), true);
  // A list claiming more strings than the frame could hold is refused before any allocation.
  std::string run = encoded(Run{});
  std::size_t argv_count_at = 4 + 1 + 8 + 4 + 8;
  run[argv_count_at + 3] = '\x7f';
  refuses(run, false);
  // An unknown status.
  std::string ended = encoded(Ended{});
  ended[4 + 1 + 8] = 9;
  refuses(ended, false);
}

TEST_CASE("agent outbox: frames leave in order through memory, spill file and files")
{
  auto dir = test::scratch("outbox");
  SpillFactory spill(dir.string());
  Outbox box(spill, 1000); // tiny: most of this spills
  std::string want;
  for (int i = 0; i < 50; ++i) {
    std::string frame;
    append_output_frame(frame, static_cast<std::uint64_t>(i), Stream::out, pattern(300, i));
    want += frame;
    box.push(frame);
  }
  CHECK(box.memory_bytes() <= 1000);
  std::string content = pattern(200000, 3);
  auto path = dir / "file";
  {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  }
  box.push_file(FileBegin{4, "f", 0600}, Fd(::open(path.c_str(), O_RDONLY)));
  box.push_file(FileBegin{5, "missing", 0}, Fd(), "No such file");
  box.push(encoded(Ping{}));
  append_frame(want, FileBegin{4, "f", 0600});
  for (std::size_t at = 0; at < content.size(); at += k_chunk) {
    append_frame(want, FileData{content.substr(at, k_chunk)});
  }
  append_frame(want, FileEnd{});
  append_frame(want, FileBegin{5, "missing", 0});
  append_frame(want, FileEnd{"No such file"});
  append_frame(want, Ping{});

  // A pipe too small for the lot: flush stops at EAGAIN and goes on where it stopped.
  Pipe pipe = make_pipe(true);
  std::string got;
  char buf[65536];
  for (int round = 0; round < 10000 && !box.empty(); ++round) {
    REQUIRE(box.flush(pipe.write.get()));
    ssize_t n;
    while ((n = ::read(pipe.read.get(), buf, sizeof buf)) > 0) {
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  CHECK(box.empty());
  CHECK(got.size() == want.size());
  CHECK(got == want);
}

TEST_CASE("agent outbox: a peer that left is a write error (EPIPE), not a death by SIGPIPE")
{
  auto dir = test::scratch("outbox-epipe");
  SpillFactory spill(dir.string());
  Outbox box(spill, 1 << 20);
  box.push(encoded(Ping{}));
  Pipe pipe = make_pipe(true);
  pipe.read.reset();
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old);
  CHECK_FALSE(box.flush(pipe.write.get()));
  CHECK(errno == EPIPE);
  ::sigaction(SIGPIPE, &old, nullptr);
}

namespace {

struct Recorder final : Connection::Handler {
  std::vector<Message> messages;
  std::string closed;
  void on_message(Message& m) override { messages.push_back(std::move(m)); }
  void on_closed(const std::string& why) override { closed = why; }
};

} // namespace

TEST_CASE("agent connection: messages both ways, pings when idle, silence ends it")
{
  auto dir = test::scratch("connection");
  SpillFactory spill(dir.string());
  Reactor reactor;
  Pipe a_to_b = make_pipe(true);
  Pipe b_to_a = make_pipe(true);
  Recorder ra, rb;
  Connection a(reactor, std::move(b_to_a.read), std::move(a_to_b.write), ra, true, spill);
  auto b = std::make_unique<Connection>(reactor, std::move(a_to_b.read), std::move(b_to_a.write),
                                        rb, false, spill);
  b->send_raw(greeting());
  b->send(Hello{2, "b", ""});
  a.send(Cancel{1, 15});
  a.set_heartbeat(0.05, 0.3);
  b->set_heartbeat(0.05, 0);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while ((ra.messages.size() < 2 || rb.messages.empty()) && Clock::now() < deadline) {
    reactor.run_once(deadline);
  }
  REQUIRE(ra.messages.size() >= 2);
  CHECK(std::holds_alternative<Hello>(ra.messages[0]));
  CHECK(std::holds_alternative<Ping>(ra.messages.back())); // nothing else arrives: pings
  REQUIRE_FALSE(rb.messages.empty());
  CHECK(std::get<Cancel>(rb.messages[0]).signal == 15);
  // b falls silent but stays connected: a gives up once its limit has passed.
  b->set_heartbeat(0, 0);
  auto silent_from = Clock::now();
  while (ra.closed.empty() && Clock::now() < deadline) {
    reactor.run_once(deadline);
  }
  CHECK(ra.closed == "no sign of life for 0.3 s");
  CHECK(Clock::now() - silent_from >= std::chrono::milliseconds(250));
  // Closing b's end is an end of stream for nobody now: a reports nothing more.
  ra.closed.clear();
  b.reset();
  reactor.run_once(Clock::now() + std::chrono::milliseconds(50));
  CHECK(ra.closed.empty());
}
