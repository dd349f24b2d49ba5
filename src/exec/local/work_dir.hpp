// WorkDirs: where items run (--wd): parmap's own directory, a directory named per item
// (replacement strings), or a fresh one per item ("...") removed with what it holds once the
// item is gone.
#pragma once

#include "exec/command.hpp"

#include <optional>
#include <string>

namespace parmap {

/// The directory one item runs in; it removes the directory when it was made for the item.
class ItemDir {
public:
  ItemDir() = default;
  ItemDir(std::string path, bool owned) : m_path(std::move(path)), m_owned(owned) {}
  ItemDir(ItemDir&& other) noexcept;
  ItemDir& operator=(ItemDir&& other) noexcept;
  ItemDir(const ItemDir&) = delete;
  ItemDir& operator=(const ItemDir&) = delete;
  ~ItemDir();

  /// Empty: parmap's own directory.
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
  bool m_owned = false;
};

class WorkDirs {
public:
  /// `spec` as given to --wd (empty: parmap's own directory); "..." makes directories in
  /// `temp_dir` ($TMPDIR or /tmp when empty).
  WorkDirs(const std::string& spec, const std::string& temp_dir);

  /// The directory for the item `ctx` renders. Throws parmap::Error, with the line for the
  /// item's stderr, when it is not a directory or none can be made.
  ItemDir for_item(const RenderContext& ctx) const;

private:
  std::optional<TextTemplate> m_named; ///< --wd DIR
  bool m_fresh = false;                ///< --wd ...
  std::string m_temp_dir;
};

} // namespace parmap
