#include "exec/launch.hpp"

namespace parmap {

std::optional<std::string> TemplateLaunch::build(const Item& item, unsigned slot, Launch& out) const
{
  auto refused = m_command.render(RenderContext{item.args, item.seq, slot}, out.argv);
  // parmap's names, and GNU parallel's (GPU pinning recipes read PARALLEL_JOBSLOT).
  out.env.resize(4);
  out.env[0] = "PARMAP_SEQ=" + std::to_string(item.seq);
  out.env[1] = "PARMAP_SLOT=" + std::to_string(slot);
  out.env[2] = "PARALLEL_SEQ=" + std::to_string(item.seq);
  out.env[3] = "PARALLEL_JOBSLOT=" + std::to_string(slot);
  return refused;
}

std::string TemplateLaunch::display(const Item& item, unsigned slot) const
{
  return m_command.display(RenderContext{item.args, item.seq, slot});
}

std::optional<std::string> prepare_launch(const LaunchBuilder& builder,
                                          const Item& item,
                                          unsigned slot,
                                          Launch& out)
{
  auto refused = unpassable(item.args, item.oversize);
  if (!refused) {
    refused = builder.build(item, slot, out);
  }
  if (refused) {
    return "item " + std::to_string(item.seq) + " not run: " + *refused;
  }
  return std::nullopt;
}

} // namespace parmap
