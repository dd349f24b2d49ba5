// Regex: a compiled PCRE2 pattern, for the options GNU parallel takes as Perl regular
// expressions (--recend/--recstart with --regexp, --header).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace parmap {

/// An immutable compiled pattern in Perl syntax. `^` and `$` also match at line boundaries,
/// as in GNU parallel, which applies its patterns with Perl's /m.
class Regex {
public:
  /// Throws parmap::Error naming `what` (e.g. "--recend") when `pattern` does not compile.
  Regex(std::string_view pattern, std::string_view what);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  struct Match {
    std::size_t start = 0;
    std::size_t end = 0;
  };
  /// The leftmost match that starts at or after `from`.
  std::optional<Match> find(std::string_view subject, std::size_t from) const;

  /// How a match anchored at the start of a subject that may still grow turned out.
  enum class Prefix {
    matched, ///< `match` holds it, and more bytes would not change it.
    partial, ///< The subject ends inside a possible match: more bytes are needed to know.
    none,    ///< It can never match there.
  };
  /// Matches at offset 0 only. While `more_may_come`, a match that reaches the end of `subject`
  /// is reported as partial (PCRE2's hard partial matching): more bytes could make it longer.
  Prefix match_prefix(std::string_view subject, Match& match, bool more_may_come) const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace parmap
