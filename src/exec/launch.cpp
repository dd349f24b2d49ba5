#include "exec/launch.hpp"

namespace parmap {

void TemplateLaunch::build(const Item& item, unsigned slot, Launch& out) const
{
  m_command.render(RenderContext{item.text, item.seq, slot}, out.argv);
  // parmap's names, and GNU parallel's (GPU pinning recipes read PARALLEL_JOBSLOT).
  out.env.resize(4);
  out.env[0] = "PARMAP_SEQ=" + std::to_string(item.seq);
  out.env[1] = "PARMAP_SLOT=" + std::to_string(slot);
  out.env[2] = "PARALLEL_SEQ=" + std::to_string(item.seq);
  out.env[3] = "PARALLEL_JOBSLOT=" + std::to_string(slot);
}

std::string TemplateLaunch::display(const Item& item, unsigned slot) const
{
  return m_command.display(RenderContext{item.text, item.seq, slot});
}

std::optional<std::string> unrunnable(const Item& item)
{
  if (item.full_size > item.text.size()) {
    return "item " + std::to_string(item.seq) + " is " + std::to_string(item.full_size) +
           " bytes long; one argument can be at most " + std::to_string(item.text.size()) +
           " bytes";
  }
  if (item.text.find('\0') != std::string::npos) {
    return "item " + std::to_string(item.seq) +
           " contains a NUL byte, which cannot be passed as an argument "
           "(use -0 for NUL-separated input)";
  }
  return std::nullopt;
}

} // namespace parmap
