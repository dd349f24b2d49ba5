#include "output/format.hpp"

#include <fmt/format.h>

#include <vector>

namespace parmap {

void LineTagger::apply(std::string_view bytes, std::string& out)
{
  while (!bytes.empty()) {
    if (m_at_line_start) {
      out.append(m_prefix);
      m_at_line_start = false;
    }
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      out.append(bytes);
      return;
    }
    out.append(bytes.substr(0, nl + 1));
    bytes.remove_prefix(nl + 1);
    m_at_line_start = true;
  }
}

std::string joined(std::span<const std::string> args, char separator)
{
  std::string out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i > 0) {
      out.push_back(separator);
    }
    out += args[i];
  }
  return out;
}

std::string tag_prefix(std::span<const std::string> args)
{
  return joined(args, '\t') + '\t';
}

bool StoredCursor::next(std::string& out, std::size_t max)
{
  if (!m_bytes || m_pos >= m_limit) {
    return false;
  }
  auto want = [&](std::uint64_t available) {
    return static_cast<std::size_t>(std::min<std::uint64_t>({max, available, m_limit - m_pos}));
  };
  const auto& extents = m_bytes->extents;
  while (m_extent < extents.size()) {
    const Extent& e = extents[m_extent];
    std::uint64_t into = m_pos - m_extent_start;
    if (into >= e.size) {
      // Only the last extent can still grow, and a cursor never passes the bytes that exist.
      if (m_extent + 1 == extents.size()) {
        break;
      }
      m_extent_start += e.size;
      ++m_extent;
      continue;
    }
    std::size_t n = want(e.size - into);
    std::size_t at = out.size();
    out.resize(at + n);
    m_bytes->spill->read(e.offset + into, n, out.data() + at);
    m_pos += n;
    return true;
  }
  std::uint64_t in_extents = m_extent_start + (m_extent < extents.size() ? extents[m_extent].size : 0);
  const std::string& mem = m_bytes->memory;
  std::uint64_t into = m_pos - in_extents;
  if (into >= mem.size()) {
    return false;
  }
  std::size_t n = want(mem.size() - into);
  out.append(mem, static_cast<std::size_t>(into), n);
  m_pos += n;
  return true;
}

bool StoredPiece::fill(std::string& buf, std::size_t max)
{
  if (!m_tagger) {
    return m_cursor.next(buf, max);
  }
  m_raw.clear();
  bool more = m_cursor.next(m_raw, max);
  m_tagger->apply(m_raw, buf);
  return more;
}

namespace {

/// The JSON record as a list of steps: literal text, or a stored stream escaped or base64'd.
class JsonRecordPiece final : public Piece {
public:
  explicit JsonRecordPiece(const Result& r)
  {
    std::string head = "{";
    append_item_fields(head, r.seq, r.item, r.args, r.status, r.exit_code, r.signal, r.duration,
                       r.attempts);
    head += r.replayed ? ",\"replayed\":true" : ",\"replayed\":false";
    if (!r.host.empty()) {
      head += ",\"host\":"; // only items that ran on a remote host (--sshlogin) have one
      append_json_string(head, r.host);
    }
    if (!r.step.empty()) {
      head += ",\"step\":"; // and a Slurm job step (--slurm)
      append_json_string(head, r.step);
    }
    m_steps.push_back(text(std::move(head)));
    add_stream("stdout", r.out);
    add_stream("stderr", r.err);
    m_steps.push_back(text("}\n"));
  }

  bool fill(std::string& buf, std::size_t max) override
  {
    while (m_step < m_steps.size() && buf.size() < max) {
      Step& s = m_steps[m_step];
      if (!s.bytes) {
        buf.append(s.literal);
        ++m_step;
        continue;
      }
      if (!s.cursor) {
        s.cursor = std::make_unique<StoredCursor>(s.bytes);
        buf.append(s.base64 ? fmt::format(",\"{}_b64\":\"", s.name)
                            : fmt::format(",\"{}\":\"", s.name));
      }
      m_raw.clear();
      if (s.cursor->next(m_raw, max)) {
        if (s.base64) {
          m_b64.feed(m_raw, buf);
        } else {
          m_escaper.feed(m_raw, buf);
        }
        continue;
      }
      finish_step(s, buf);
      ++m_step;
    }
    return m_step < m_steps.size();
  }

private:
  struct Step {
    std::string literal;
    std::shared_ptr<const detail::StoredBytes> bytes;
    std::string name;
    bool base64 = false;
    std::unique_ptr<StoredCursor> cursor = nullptr;
  };
  static Step text(std::string literal) { return Step{std::move(literal), nullptr, "", false}; }
  static Step stream(std::shared_ptr<const detail::StoredBytes> bytes, std::string name, bool b64)
  {
    return Step{"", std::move(bytes), std::move(name), b64};
  }

  void add_stream(const char* name, const Output& out)
  {
    const auto& stored = detail::OutputAccess::handle(out);
    if (!stored) {
      m_steps.push_back(text(fmt::format(",\"{}\":\"\"", name)));
      return;
    }
    m_steps.push_back(stream(stored, name, false));
  }

  void finish_step(Step& s, std::string& buf)
  {
    if (s.base64) {
      m_b64.finish(buf);
      m_b64 = Base64Encoder{};
      buf.push_back('"');
      return;
    }
    m_escaper.finish(buf);
    buf.push_back('"');
    if (!m_escaper.valid()) {
      // Not UTF-8: add the exact bytes as base64 right after the text field.
      Step again = stream(s.bytes, s.name, true);
      m_steps.insert(m_steps.begin() + static_cast<std::ptrdiff_t>(m_step) + 1, std::move(again));
    }
    m_escaper = JsonEscaper{};
  }

  std::vector<Step> m_steps;
  std::size_t m_step = 0;
  std::string m_raw;
  JsonEscaper m_escaper;
  Base64Encoder m_b64;
};

} // namespace

namespace {

void append_base64(std::string& out, std::string_view bytes)
{
  out.push_back('"');
  Base64Encoder b64;
  b64.feed(bytes, out);
  b64.finish(out);
  out.push_back('"');
}

} // namespace

void append_seq_and_item(std::string& out,
                         std::uint64_t seq,
                         std::string_view item,
                         std::span<const std::string> args)
{
  out += fmt::format("\"seq\":{},\"item\":", seq);
  if (!append_json_string(out, item)) {
    out.append(",\"item_b64\":");
    append_base64(out, item);
  }
  out.append(",\"args\":[");
  bool valid = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    out += i > 0 ? "," : "";
    valid = append_json_string(out, args[i]) && valid;
  }
  out.push_back(']');
  if (!valid) {
    out.append(",\"args_b64\":[");
    for (std::size_t i = 0; i < args.size(); ++i) {
      out += i > 0 ? "," : "";
      append_base64(out, args[i]);
    }
    out.push_back(']');
  }
}

void append_item_fields(std::string& out,
                        std::uint64_t seq,
                        std::string_view item,
                        std::span<const std::string> args,
                        Status status,
                        int exit_code,
                        int signal,
                        double duration,
                        unsigned attempts)
{
  append_seq_and_item(out, seq, item, args);
  out += fmt::format(",\"status\":\"{}\",\"exit\":{},\"signal\":", to_string(status), exit_code);
  out += signal != 0 ? std::to_string(signal) : std::string("null");
  out += fmt::format(",\"duration_s\":{:.6f},\"attempts\":{}", duration, attempts);
}

std::unique_ptr<Piece> make_json_record(const Result& result)
{
  return std::make_unique<JsonRecordPiece>(result);
}

} // namespace parmap
