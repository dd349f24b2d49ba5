#include "input/combine.hpp"

#include "parmap/error.hpp"

#include <algorithm>
#include <cstring>

namespace parmap {
namespace detail {
namespace {

constexpr std::size_t k_none = static_cast<std::size_t>(-1);

} // namespace

// ---- SequenceSource ---------------------------------------------------------------------

SequenceSource::SequenceSource(std::vector<std::shared_ptr<ItemSource>> parts)
    : m_parts(std::move(parts))
{
}

ItemSource::Pull SequenceSource::next_part(Record& out)
{
  while (m_part < m_parts.size()) {
    Pull pull = m_parts[m_part]->next(out);
    if (pull != Pull::end) {
      return pull;
    }
    ++m_part;
  }
  return Pull::end;
}

ItemSource::Pull SequenceSource::next(Record& out)
{
  if (m_skip) {
    Record header;
    Pull pull = next_part(header);
    if (pull != Pull::item) {
      return pull;
    }
    m_skip = false;
    if (!m_header_record) {
      m_header_record = std::move(header); // read again after a rewind: the same, skipped
    }
  }
  return next_part(out);
}

int SequenceSource::wait_fd() const
{
  return m_part < m_parts.size() ? m_parts[m_part]->wait_fd() : -1;
}

std::optional<std::uint64_t> SequenceSource::count()
{
  std::uint64_t total = 0;
  for (const auto& part : m_parts) {
    auto n = part->count();
    if (!n) {
      return std::nullopt;
    }
    total += *n;
  }
  bool own_header = m_header && !m_delegate;
  return own_header && total > 0 ? total - 1 : total;
}

std::string SequenceSource::name() const
{
  return m_parts.empty() ? std::string("arguments") : m_parts.front()->name();
}

bool SequenceSource::prepare_rewind()
{
  bool all = true;
  for (const auto& part : m_parts) {
    all = part->prepare_rewind() && all; // every part is told, even after one said no
  }
  return all;
}

void SequenceSource::rewind()
{
  for (const auto& part : m_parts) {
    part->rewind();
  }
  m_part = 0;
  m_skip = m_header && !m_delegate;
}

bool SequenceSource::take_headers()
{
  m_delegate = m_parts.size() == 1 && m_parts.front()->take_headers();
  m_header = true;
  m_skip = !m_delegate;
  return true;
}

void SequenceSource::append_headers(std::vector<std::string>& names) const
{
  if (m_delegate) {
    m_parts.front()->append_headers(names);
  } else if (m_header_record) {
    names.insert(names.end(), m_header_record->args.begin(), m_header_record->args.end());
  }
}

void SequenceSource::use_slots(unsigned slots)
{
  for (const auto& part : m_parts) {
    part->use_slots(slots);
  }
}

std::optional<std::string> SequenceSource::take_warning()
{
  return m_part < m_parts.size() ? m_parts[m_part]->take_warning() : std::nullopt;
}

// ---- SpoolSource --------------------------------------------------------------------------

void SpoolSource::read_exactly(char* out, std::size_t n)
{
  while (n > 0) {
    if (m_buf_pos == m_buf.size()) {
      if (m_read >= m_written) {
        throw Error(name() + ": the spooled input ended early"); // cannot happen
      }
      auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(64 * 1024, m_written - m_read));
      m_buf.resize(chunk);
      m_file->read(m_read, chunk, m_buf.data());
      m_read += chunk;
      m_buf_pos = 0;
    }
    std::size_t take = std::min(n, m_buf.size() - m_buf_pos);
    std::memcpy(out, m_buf.data() + m_buf_pos, take);
    m_buf_pos += take;
    out += take;
    n -= take;
  }
}

ItemSource::Pull SpoolSource::next(Record& out)
{
  if (!m_replaying) {
    Pull pull = m_inner->next(out);
    if (pull == Pull::item) {
      if (!m_file) {
        m_file = std::make_unique<SpillFile>(std::string());
      }
      std::string bytes;
      encode_record(out, bytes);
      m_file->append(bytes);
      m_written += bytes.size();
    }
    return pull;
  }
  if (m_read >= m_written && m_buf_pos == m_buf.size()) {
    return Pull::end;
  }
  decode_record([&](char* to, std::size_t n) { read_exactly(to, n); }, out);
  return Pull::item;
}

void SpoolSource::rewind()
{
  m_replaying = true; // only after the first pass ended: the file holds every item
  m_read = 0;
  m_buf.clear();
  m_buf_pos = 0;
}

// ---- CombinedSource ---------------------------------------------------------------------

CombinedSource::CombinedSource(std::vector<std::shared_ptr<ItemSource>> sources, Mode mode)
    : m_sources(std::move(sources)), m_mode(mode), m_current(m_sources.size()),
      m_ended(m_sources.size(), false)
{
  // A product reads every source but the first again for each item of the one before it; a
  // link starts any shorter source over. Those must be able to, or be spooled.
  for (std::size_t i = 0; i < m_sources.size(); ++i) {
    bool again = (mode == Mode::product && i > 0) || mode == Mode::link;
    if (again && !m_sources[i]->prepare_rewind()) {
      m_sources[i] = std::make_shared<SpoolSource>(m_sources[i]);
    }
  }
  m_refill = m_sources.size();
}

ItemSource::Pull CombinedSource::pull(std::size_t i)
{
  Record r;
  Pull p = m_sources[i]->next(r);
  if (p == Pull::item) {
    m_current[i] = std::move(r);
  } else if (p == Pull::wait) {
    m_waiting = m_sources[i]->wait_fd();
  }
  return p;
}

void CombinedSource::emit(Record& out)
{
  out.args.clear();
  out.oversize = 0;
  for (const auto& r : m_current) {
    out.args.insert(out.args.end(), r.args.begin(), r.args.end());
    out.oversize = std::max(out.oversize, r.oversize);
  }
}

ItemSource::Pull CombinedSource::next(Record& out)
{
  if (m_sources.empty()) {
    return Pull::end;
  }
  return m_mode == Mode::product ? next_product(out) : next_side_by_side(out);
}

ItemSource::Pull CombinedSource::next_product(Record& out)
{
  if (!m_started) {
    m_started = true;
    m_advance = k_none;
    m_refill = 0;
  }
  for (;;) {
    if (m_advance != k_none) {
      Pull p = pull(m_advance);
      if (p == Pull::wait) {
        return p;
      }
      if (p == Pull::end) {
        if (m_advance == 0) {
          return Pull::end;
        }
        // An inner source ended: it starts over, and the one before it moves on.
        m_sources[m_advance]->rewind();
        m_refill = std::min(m_refill, m_advance);
        --m_advance;
        continue;
      }
      m_advance = k_none;
    }
    while (m_refill < m_sources.size()) {
      Pull p = pull(m_refill);
      if (p != Pull::item) {
        return p; // wait; or end: an empty source has no combinations
      }
      ++m_refill;
    }
    emit(out);
    m_advance = m_sources.size() - 1;
    return Pull::item;
  }
}

ItemSource::Pull CombinedSource::next_side_by_side(Record& out)
{
  std::size_t restarted = k_none;
  while (m_filled < m_sources.size()) {
    std::size_t i = m_filled;
    Pull p = pull(i);
    if (p == Pull::wait) {
      return p;
    }
    if (p == Pull::item) {
      m_fresh = m_fresh || !m_ended[i];
      ++m_filled;
      continue;
    }
    if (m_mode == Mode::zip || restarted == i) {
      return Pull::end; // the shortest ended (zip), or a source is empty
    }
    m_ended[i] = true; // link: a shorter source starts over
    m_sources[i]->rewind();
    restarted = i;
  }
  if (!m_fresh) {
    return Pull::end; // every source has started over: the longest has ended
  }
  emit(out);
  m_filled = 0;
  m_fresh = false;
  return Pull::item;
}

std::optional<std::uint64_t> CombinedSource::count()
{
  std::optional<std::uint64_t> total;
  for (const auto& s : m_sources) {
    auto n = s->count();
    if (!n) {
      return std::nullopt;
    }
    if (!total) {
      total = *n;
    } else if (m_mode == Mode::product) {
      total = *total * *n;
    } else {
      total = m_mode == Mode::zip ? std::min(*total, *n) : std::max(*total, *n);
    }
  }
  return total.value_or(0);
}

std::string CombinedSource::name() const
{
  std::string names;
  for (const auto& s : m_sources) {
    names += (names.empty() ? "" : ", ") + s->name();
  }
  return names;
}

bool CombinedSource::prepare_rewind()
{
  // The sources read again are ready already; the first one decides.
  return m_mode == Mode::link || m_sources.empty() || m_sources.front()->prepare_rewind();
}

void CombinedSource::rewind()
{
  for (const auto& s : m_sources) {
    s->rewind();
  }
  m_started = false;
  m_advance = k_none;
  m_refill = m_sources.size();
  m_filled = 0;
  m_fresh = false;
  m_ended.assign(m_sources.size(), false);
}

bool CombinedSource::take_headers()
{
  for (const auto& s : m_sources) {
    s->take_headers();
  }
  return true;
}

void CombinedSource::append_headers(std::vector<std::string>& names) const
{
  for (const auto& s : m_sources) {
    s->append_headers(names);
  }
}

} // namespace detail

namespace {

Items combined(std::vector<Items> sources, detail::CombinedSource::Mode mode)
{
  std::vector<std::shared_ptr<detail::ItemSource>> inputs;
  for (auto& items : sources) {
    inputs.push_back(
        std::make_shared<detail::SequenceSource>(detail::ItemsAccess::sources(items)));
  }
  return detail::ItemsAccess::make({std::make_shared<detail::CombinedSource>(std::move(inputs), mode)});
}

} // namespace

Items Items::product(std::vector<Items> sources)
{
  return combined(std::move(sources), detail::CombinedSource::Mode::product);
}

Items Items::zip(std::vector<Items> sources)
{
  return combined(std::move(sources), detail::CombinedSource::Mode::zip);
}

Items Items::link(std::vector<Items> sources)
{
  return combined(std::move(sources), detail::CombinedSource::Mode::link);
}

} // namespace parmap
