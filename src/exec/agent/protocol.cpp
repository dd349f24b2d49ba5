#include "exec/agent/protocol.hpp"

#include "parmap/parmap.hpp"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstring>

namespace parmap::agent {
namespace {

static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");

/// Each message's fields in wire order: the one list both the encoder and the decoder follow.
template <class M, class F> void fields(M& m, F&& f)
{
  using T = std::remove_const_t<M>;
  if constexpr (std::is_same_v<T, Setup>) {
    f(m.slots), f(m.kill_grace), f(m.workdir), f(m.env), f(m.cleanup), f(m.heartbeat),
        f(m.hold.failure), f(m.hold.success);
  } else if constexpr (std::is_same_v<T, Run>) {
    f(m.seq), f(m.slot), f(m.timeout), f(m.argv), f(m.env), f(m.returns), f(m.remove);
  } else if constexpr (std::is_same_v<T, Cancel>) {
    f(m.from_seq), f(m.signal);
  } else if constexpr (std::is_same_v<T, Release>) {
    f(m.ends);
  } else if constexpr (std::is_same_v<T, Hello>) {
    f(m.cpus), f(m.hostname), f(m.step);
  } else if constexpr (std::is_same_v<T, Started>) {
    f(m.seq);
  } else if constexpr (std::is_same_v<T, ItemOutput>) {
    f(m.seq), f(m.stream), f(m.bytes);
  } else if constexpr (std::is_same_v<T, Ended>) {
    f(m.seq), f(m.status), f(m.exit_code), f(m.signal), f(m.started), f(m.duration),
        f(m.interrupted);
  } else if constexpr (std::is_same_v<T, Fatal>) {
    f(m.message);
  } else if constexpr (std::is_same_v<T, FileBegin>) {
    f(m.seq), f(m.path), f(m.mode);
  } else if constexpr (std::is_same_v<T, FileData>) {
    f(m.bytes);
  } else if constexpr (std::is_same_v<T, FileEnd>) {
    f(m.error);
  } else {
    static_assert(std::is_same_v<T, KillAll> || std::is_same_v<T, Ping>);
  }
}

void put_raw(std::string& out, const void* p, std::size_t n)
{
  out.append(static_cast<const char*>(p), n);
}

/// Appends fields in their wire form: fixed-size little-endian numbers, length-prefixed bytes.
struct Writer {
  std::string& out;
  void operator()(std::uint64_t v) const { put_raw(out, &v, sizeof v); }
  void operator()(std::uint32_t v) const { put_raw(out, &v, sizeof v); }
  void operator()(int v) const { (*this)(static_cast<std::uint32_t>(v)); }
  void operator()(double v) const { (*this)(std::bit_cast<std::uint64_t>(v)); }
  void operator()(bool v) const { out.push_back(v ? 1 : 0); }
  void operator()(Stream v) const { out.push_back(static_cast<char>(v)); }
  void operator()(Status v) const { out.push_back(static_cast<char>(v)); }
  void operator()(std::string_view v) const
  {
    (*this)(static_cast<std::uint32_t>(v.size()));
    out.append(v);
  }
  void operator()(const std::string& v) const { (*this)(std::string_view(v)); }
  void operator()(const std::vector<std::string>& v) const
  {
    (*this)(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) {
      (*this)(s);
    }
  }
};

/// Reads fields back, refusing to read past the frame.
struct Reader {
  std::string_view in;
  const char* type;

  [[noreturn]] void short_frame() const
  {
    throw ProtocolError(fmt::format("a {} frame is shorter than its fields", type));
  }
  std::string_view take(std::size_t n)
  {
    if (n > in.size()) {
      short_frame();
    }
    std::string_view piece = in.substr(0, n);
    in.remove_prefix(n);
    return piece;
  }
  template <class T> T fixed()
  {
    T v{};
    std::memcpy(&v, take(sizeof v).data(), sizeof v);
    return v;
  }
  void operator()(std::uint64_t& v) { v = fixed<std::uint64_t>(); }
  void operator()(std::uint32_t& v) { v = fixed<std::uint32_t>(); }
  void operator()(int& v) { v = static_cast<int>(fixed<std::uint32_t>()); }
  void operator()(double& v) { v = std::bit_cast<double>(fixed<std::uint64_t>()); }
  void operator()(bool& v) { v = take(1)[0] != 0; }
  void operator()(Stream& v) { v = take(1)[0] == 0 ? Stream::out : Stream::err; }
  void operator()(Status& v)
  {
    auto raw = static_cast<unsigned char>(take(1)[0]);
    if (raw > static_cast<unsigned char>(Status::signaled)) {
      throw ProtocolError(fmt::format("a {} frame has an unknown status {}", type, raw));
    }
    v = static_cast<Status>(raw);
  }
  void operator()(std::string& v) { v.assign(take(fixed<std::uint32_t>())); }
  void operator()(std::vector<std::string>& v)
  {
    auto n = fixed<std::uint32_t>();
    if (n > in.size() / sizeof(std::uint32_t)) {
      short_frame(); // each string needs its length at least
    }
    v.resize(n);
    for (auto& s : v) {
      (*this)(s);
    }
  }
};

constexpr const char* k_names[] = {"setup", "run",    "cancel",     "kill-all",  "hello",
                                   "started", "output", "ended",    "fatal",     "file-begin",
                                   "file-data", "file-end", "ping",    "release"};
static_assert(std::size(k_names) == std::variant_size_v<Message>);

/// Reserves the frame's length field and type byte; returns where the length goes.
std::size_t begin_frame(std::string& out, std::size_t type)
{
  std::size_t at = out.size();
  out.append(4, '\0');
  out.push_back(static_cast<char>(type + 1)); // 0 is never a valid type
  return at;
}

void end_frame(std::string& out, std::size_t at)
{
  auto length = static_cast<std::uint32_t>(out.size() - at - 4);
  std::memcpy(out.data() + at, &length, sizeof length);
}

template <std::size_t I> Message decode_as(std::string_view payload)
{
  std::variant_alternative_t<I, Message> m;
  Reader reader{payload, k_names[I]};
  fields(m, reader);
  if (!reader.in.empty()) {
    throw ProtocolError(fmt::format("a {} frame has {} bytes past its fields", k_names[I],
                                    reader.in.size()));
  }
  return m;
}

template <std::size_t... I>
Message decode_index(std::size_t index, std::string_view payload, std::index_sequence<I...>)
{
  using Decoder = Message (*)(std::string_view);
  constexpr Decoder decoders[] = {&decode_as<I>...};
  return decoders[index](payload);
}

} // namespace

const char* name_of(const Message& message)
{
  return k_names[message.index()];
}

void append_frame(std::string& out, const Message& message)
{
  std::size_t at = begin_frame(out, message.index());
  std::visit([&](const auto& m) { fields(m, Writer{out}); }, message);
  end_frame(out, at);
}

void append_output_frame(std::string& out, std::uint64_t seq, Stream stream, std::string_view bytes)
{
  std::size_t at = begin_frame(out, Message(std::in_place_type<ItemOutput>).index());
  Writer w{out};
  w(seq), w(stream), w(bytes);
  end_frame(out, at);
}

Message decode(std::string_view frame)
{
  if (frame.empty()) {
    throw ProtocolError("an empty frame");
  }
  std::size_t type = static_cast<unsigned char>(frame[0]);
  if (type == 0 || type > std::variant_size_v<Message>) {
    throw ProtocolError(fmt::format("a frame of unknown type {}", type));
  }
  return decode_index(type - 1, frame.substr(1),
                      std::make_index_sequence<std::variant_size_v<Message>>());
}

std::string greeting()
{
  return fmt::format("{} {} {}\n", k_greeting_word, k_protocol_version, version());
}

void FrameReader::feed(std::string_view bytes)
{
  if (m_pos > 0 && m_pos >= m_buffer.size() / 2) {
    m_buffer.erase(0, m_pos); // what was read goes once it is half the buffer
    m_pos = 0;
  }
  m_buffer.append(bytes);
}

bool FrameReader::read_greeting()
{
  for (;;) {
    std::size_t nl = m_buffer.find('\n', m_pos);
    if (nl == std::string::npos) {
      if (m_preamble.size() + buffered() > k_max_preamble) {
        throw ProtocolError("no agent greeting in the first 64 KiB");
      }
      return false;
    }
    std::string_view line(m_buffer.data() + m_pos, nl - m_pos);
    m_pos = nl + 1;
    if (!line.starts_with(k_greeting_word) || line.size() == k_greeting_word.size() ||
        line[k_greeting_word.size()] != ' ') {
      m_preamble.append(line).push_back('\n');
      if (m_preamble.size() > k_max_preamble) {
        throw ProtocolError("no agent greeting in the first 64 KiB");
      }
      continue;
    }
    line.remove_prefix(k_greeting_word.size() + 1);
    Greeting g;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), g.protocol);
    if (ec != std::errc() || end == line.data() || (end != line.data() + line.size() && *end != ' ')) {
      throw ProtocolError(fmt::format("a malformed agent greeting: {}", line));
    }
    std::string_view rest = line.substr(static_cast<std::size_t>(end - line.data()));
    g.version = rest.empty() ? "?" : std::string(rest.substr(1));
    m_greeting = std::move(g);
    m_greeting_pending = false;
    if (m_greeting->protocol != k_protocol_version) {
      throw VersionMismatch(fmt::format("the agent speaks protocol {}, not {}",
                                        m_greeting->protocol, k_protocol_version));
    }
    return true;
  }
}

std::optional<std::string_view> FrameReader::next()
{
  if (m_greeting && m_greeting->protocol != k_protocol_version) {
    throw VersionMismatch("the agent speaks another protocol");
  }
  if (m_greeting_pending && !read_greeting()) {
    return std::nullopt;
  }
  if (buffered() < 4) {
    return std::nullopt;
  }
  std::uint32_t length = 0;
  std::memcpy(&length, m_buffer.data() + m_pos, sizeof length);
  if (length == 0 || length > k_max_frame) {
    throw ProtocolError(fmt::format("a frame of {} bytes (at most {})", length, k_max_frame));
  }
  if (buffered() - 4 < length) {
    return std::nullopt;
  }
  std::string_view frame(m_buffer.data() + m_pos + 4, length);
  m_pos += 4 + length;
  return frame;
}

} // namespace parmap::agent
