#include "exec/local/work_dir.hpp"

#include "base/fd.hpp"
#include "parmap/error.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace parmap {

ItemDir::ItemDir(ItemDir&& other) noexcept
    : m_path(std::exchange(other.m_path, {})), m_owned(std::exchange(other.m_owned, false))
{
}

ItemDir& ItemDir::operator=(ItemDir&& other) noexcept
{
  std::swap(m_path, other.m_path);
  std::swap(m_owned, other.m_owned);
  return *this;
}

ItemDir::~ItemDir()
{
  if (m_owned) {
    std::error_code ignored; // best effort: a leftover temporary directory harms nobody
    std::filesystem::remove_all(m_path, ignored);
  }
}

WorkDirs::WorkDirs(const std::string& spec, const std::string& temp_dir)
    : m_fresh(spec == "..."), m_temp_dir(temp_directory(temp_dir))
{
  if (!spec.empty() && !m_fresh) {
    m_named.emplace(spec);
  }
}

ItemDir WorkDirs::for_item(const RenderContext& ctx) const
{
  if (m_fresh) {
    std::string dir = m_temp_dir + "/parmap-wd-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
      throw Error("--wd ...: cannot make a directory in " + m_temp_dir + ": " +
                  std::strerror(errno));
    }
    return ItemDir(std::move(dir), true);
  }
  if (!m_named) {
    return {};
  }
  std::string dir = m_named->render(ctx);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error("--wd " + dir + ": not a directory");
  }
  return ItemDir(std::move(dir), false);
}

} // namespace parmap
