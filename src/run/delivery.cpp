// The output side of the engine: routing each item's bytes (captured, or straight through to
// the writer), delivering results in input order or as ready, and handing them over.
#include "run/engine.hpp"

#include <fcntl.h>

namespace parmap::detail {
namespace {

/// Per item, per stream: output kept in memory up to this; beyond, it spills to disk.
constexpr std::size_t k_item_memory = 64 * 1024;
/// All items together: beyond this, every item spills.
constexpr std::size_t k_total_memory = 8 * 1024 * 1024;
/// As-ready mode: an item whose output passes this streams straight through.
constexpr std::size_t k_stream_threshold = 64 * 1024;
/// Writer backlog that pauses reading streaming items, and the level that resumes them.
constexpr std::size_t k_high_water = 1024 * 1024;
constexpr std::size_t k_low_water = 256 * 1024;
/// --line-buffer holds an unterminated line up to this, then writes it out anyway.
constexpr std::size_t k_longest_line = 1024 * 1024;

/// The last byte of what a capture holds, or '\n' when it holds nothing.
char last_byte(const std::shared_ptr<const StoredBytes>& bytes)
{
  if (!bytes) {
    return '\n';
  }
  if (!bytes->memory.empty()) {
    return bytes->memory.back();
  }
  if (bytes->extents.empty()) {
    return '\n';
  }
  const Extent& e = bytes->extents.back();
  char c = '\n';
  bytes->spill->read(e.offset + e.size - 1, 1, &c);
  return c;
}

} // namespace

std::size_t Engine::memory_limit() const
{
  return m_buffered < k_total_memory ? k_item_memory : 0;
}

bool Engine::may_stream(const Flight& f) const
{
  // An item that may still be retried is held back: a failed attempt's output is dropped.
  // Nor is a remote item's: it may be lost with its host and run again elsewhere.
  return m_writer && m_result_writer->streams() && !f.ended && f.attempt > m_options.retries &&
         f.host.empty() && f.slot <= m_local_slots;
}

bool Engine::on_output(std::uint64_t seq, Stream stream, std::string_view bytes)
{
  auto it = m_flights.find(seq);
  if (it == m_flights.end()) {
    return true;
  }
  Flight& f = it->second;
  Capture& capture = f.capture(stream);
  if (!f.streaming && may_stream(f)) {
    if (m_options.order == Order::input && seq == m_next_seq && !m_delivery_closed) {
      start_streaming(seq, f); // the head's output goes straight through
    } else if (m_options.order == Order::as_ready && m_options.forward.line_buffer) {
      f.streaming = true; // --line-buffer: every item streams whole lines as they come
    }
  }
  if (f.streaming) {
    stream_bytes(seq, f, stream, bytes, m_options.forward.line_buffer);
  }
  if (f.streaming && !m_checkpoint) {
    capture.count_only(bytes.size()); // written, and nobody needs the bytes again
  } else {
    // Kept: for delivery later, or for the checkpoint when it was also written now.
    std::size_t before = capture.memory_bytes();
    capture.append(bytes, m_spill, memory_limit());
    std::size_t after = capture.memory_bytes();
    m_buffered = m_buffered + after - before;
    f.counted = f.counted + after - before;
  }
  if (f.streaming) {
    if (m_writer->queued_bytes() < k_high_water) {
      return true;
    }
    m_paused.insert(seq); // stdout is slow: stop reading this item until the writer catches up
    return false;
  }
  if (m_options.order == Order::as_ready && !m_options.forward.line_buffer && m_streamer == 0 &&
      m_ready.empty() && capture.size() > k_stream_threshold && may_stream(f)) {
    start_streaming(seq, f);
  }
  return true;
}

long Engine::take_from_pipe(std::uint64_t seq, Stream stream, int pipe_fd)
{
  // Large outputs move without passing through parmap's memory: the streaming item's straight
  // into stdout, a spilled item's straight into the spill file.
  auto it = m_flights.find(seq);
  if (it == m_flights.end()) {
    return -1;
  }
  Flight& f = it->second;
  Capture& capture = f.capture(stream);
  if (f.streaming) {
    // Only raw bytes that nobody keeps, and only when nothing waits before them.
    if (m_checkpoint || m_options.forward.format != Format::raw ||
        m_options.forward.line_buffer) {
      return -1;
    }
    int out = m_writer->direct_fd(index_of(stream));
    if (out < 0) {
      return -1;
    }
    ssize_t n = ::splice(pipe_fd, nullptr, out, nullptr, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) {
      capture.count_only(static_cast<std::size_t>(n));
      return n;
    }
    if (errno == EINVAL || errno == ENOSYS) {
      m_writer->no_splice(index_of(stream)); // e.g. stdout is an O_APPEND file
    }
    // EAGAIN: the pipe is empty or stdout is full; reading sorts out which (and a full stdout
    // then queues in the writer, which waits for it). Other errors show up on the write path.
    return -1;
  }
  if (!capture.spilled()) {
    return -1;
  }
  std::size_t before = capture.memory_bytes();
  long n = capture.splice_from(pipe_fd, 1 << 20);
  m_buffered -= before; // what memory held went to the spill file first
  f.counted -= std::min(f.counted, before);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    // The spill file cannot take it (a full disk): fall back to reading, which reports it.
    return -1;
  }
  return n < 0 ? -1 : n;
}

void Engine::stream_bytes(std::uint64_t seq,
                          Flight& f,
                          Stream stream,
                          std::string_view bytes,
                          bool whole_lines)
{
  int index = index_of(stream);
  std::string chunk;
  if (whole_lines) {
    // Whole lines only: keep the unterminated end until its newline (or the item's end).
    std::string& partial = f.partial[index];
    partial.append(bytes);
    auto nl = partial.rfind('\n');
    if (nl == std::string::npos && partial.size() <= k_longest_line) {
      return;
    }
    // A line longer than k_longest_line goes out in pieces: memory stays bounded.
    std::size_t cut = nl == std::string::npos ? partial.size() : nl + 1;
    chunk = partial.substr(0, cut);
    partial.erase(0, cut);
  } else {
    chunk.assign(bytes);
  }
  auto& tagger = f.tagger(stream);
  if (m_options.forward.format == Format::tag) {
    if (!tagger) {
      tagger = std::make_unique<LineTagger>(tag_of(f.args, seq, f.slot));
    }
    std::string tagged;
    tagger->apply(chunk, tagged);
    chunk = std::move(tagged);
  }
  m_writer->write(index, std::move(chunk));
}

void Engine::finish_line_buffer(std::uint64_t seq, Flight& f)
{
  for (Stream s : {Stream::out, Stream::err}) {
    std::string& partial = f.partial[index_of(s)];
    if (!partial.empty()) {
      // Not a whole line, but the item is over: nothing can follow it.
      std::string rest = std::exchange(partial, std::string());
      stream_bytes(seq, f, s, rest, false);
    }
  }
}

void Engine::start_streaming(std::uint64_t seq, Flight& f)
{
  f.streaming = true;
  if (m_options.order == Order::as_ready) {
    m_streamer = seq;
  }
  bool tag = m_options.forward.format == Format::tag;
  for (Stream s : {Stream::out, Stream::err}) {
    Capture& capture = f.capture(s);
    if (capture.size() == 0) {
      continue;
    }
    // What was captured so far goes first. Kept for the checkpoint, it is read up to its
    // present size only (the capture goes on growing); otherwise it is handed over whole.
    std::shared_ptr<const StoredBytes> held;
    std::uint64_t limit = capture.size();
    if (m_checkpoint) {
      held = capture.kept();
    } else {
      held = capture.take_kept();
      uncount(f);
    }
    auto& tagger = f.tagger(s);
    std::unique_ptr<LineTagger> prefix_tagger;
    if (tag) {
      std::string prefix = tag_of(f.args, seq, f.slot);
      prefix_tagger = std::make_unique<LineTagger>(prefix);
      tagger = std::make_unique<LineTagger>(prefix, last_byte(held) == '\n');
    }
    m_writer->write(index_of(s), std::make_unique<StoredPiece>(held, std::move(prefix_tagger), limit));
  }
}

void Engine::try_deliver()
{
  if (m_options.order == Order::as_ready) {
    while (!m_ready.empty() && (m_streamer == 0 || m_ready.front() == m_streamer)) {
      std::uint64_t seq = m_ready.front();
      m_ready.pop_front();
      if (m_streamer == seq) {
        m_streamer = 0;
      }
      deliver(seq, m_flights.at(seq));
    }
    return;
  }
  while (!m_delivery_closed) {
    auto it = m_flights.find(m_next_seq);
    if (it == m_flights.end()) {
      break;
    }
    Flight& f = it->second;
    if (!f.ended) {
      if (!f.streaming && may_stream(f)) {
        start_streaming(m_next_seq, f); // the head's output goes straight through
      }
      break;
    }
    if (f.interrupted) {
      close_delivery(); // in input order, output stops at the first gap
      break;
    }
    std::uint64_t seq = m_next_seq++;
    deliver(seq, f);
    if (m_halt_result && m_halt_result->seq == seq &&
        m_options.halt.when == Halt::When::now) {
      close_delivery(); // fail-fast: nothing after the failed item
    }
  }
}

void Engine::close_delivery()
{
  m_delivery_closed = true;
  // Whatever has ended can no longer be delivered; what still runs goes when it ends.
  for (auto it = m_flights.begin(); it != m_flights.end();) {
    if (it->second.ended) {
      release(it->second);
      it = m_flights.erase(it);
    } else {
      ++it;
    }
  }
}

void Engine::deliver(std::uint64_t seq, Flight& f)
{
  Delivered d{std::move(*f.result), f.batch, f.occurrence, std::move(f.key)};
  uncount(f);
  bool streamed = f.streaming;
  m_flights.erase(seq);
  try {
    m_result_writer->write(d.result, labels(d.result), streamed);
  } catch (const Error& e) {
    batch_item_done(d.batch); // not written, so not a result: it runs again on resume
    if (!m_error) {
      fail_run(e.what());
    }
    return;
  }
  if (!m_writer) {
    hand_over(std::move(d));
    return;
  }
  m_unwritten.emplace(seq, std::move(d));
  m_writer->mark(seq); // may report the mark (and hand the result over) right away
}

ResultLabels Engine::labels(const Result& r) const
{
  ResultLabels l;
  if (m_options.forward.format == Format::tag) {
    l.tag = tag_of(r.args, r.seq, r.slot);
  } else if (m_options.forward.format == Format::files && m_tag_string) {
    l.tag = tag_of(r.args, r.seq, r.slot); // --files --tag: the name is tagged
  }
  l.args = r.args;
  if (m_results_name) {
    l.results_path = m_results_name->render(RenderContext{r.args, r.seq, r.slot});
  }
  return l;
}

std::string Engine::tag_of(std::span<const std::string> args, std::uint64_t seq, unsigned slot) const
{
  if (!m_tag_string) {
    // --onall: the host names the line, as in GNU parallel.
    return m_on_all.empty() || slot == 0 ? tag_prefix(args) : m_on_all[slot - 1] + '\t';
  }
  return m_tag_string->render(RenderContext{args, seq, slot}) + '\t';
}

void Engine::on_written(std::uint64_t seq)
{
  auto it = m_unwritten.find(seq);
  if (it == m_unwritten.end()) {
    return;
  }
  Delivered d = std::move(it->second);
  m_unwritten.erase(it);
  record(d); // only now: what is recorded was written
  hand_over(std::move(d));
}

void Engine::record(const Delivered& d)
{
  if (!m_checkpoint || d.result.replayed) {
    return; // a replayed result is in the checkpoint already
  }
  try {
    if (d.key.empty()) {
      m_checkpoint->record(d.result, d.occurrence);
    } else {
      Result keyed = d.result; // a block is stored under its key: it has no arguments
      keyed.args.assign(1, d.key);
      keyed.item = d.key;
      m_checkpoint->record(keyed, d.occurrence);
    }
  } catch (const Error& e) {
    if (!m_error) {
      fail_run(e.what()); // the checkpoint can no longer be trusted to keep up: stop
    }
  }
}

void Engine::hand_over(Delivered d)
{
  batch_item_done(d.batch);
  bool is_halt = m_halt_result && m_options.halt.on == Halt::On::fail &&
                 m_halt_result->seq == d.result.seq;
  if (is_halt) {
    if (!m_writer) {
      record(d); // thrown as ItemFailed instead of returned: delivered all the same
    }
    m_halt_result = d.result; // thrown at the end instead of being returned
    return;
  }
  m_results.push_back(std::move(d));
}

void Engine::release(Flight& f)
{
  uncount(f);
  batch_item_done(f.batch);
}

void Engine::uncount(Flight& f)
{
  m_buffered -= f.counted;
  f.counted = 0;
}

void Engine::batch_item_done(std::uint64_t batch)
{
  auto it = m_batch_left.find(batch);
  if (it != m_batch_left.end() && --it->second == 0) {
    m_batch_left.erase(it);
    --m_pending;
  }
}

void Engine::resume_paused()
{
  if (m_paused.empty() || m_writer->queued_bytes() >= k_low_water) {
    return;
  }
  for (std::uint64_t seq : m_paused) {
    m_executor->resume_output(seq);
  }
  m_paused.clear();
}

} // namespace parmap::detail
