#include "base/regex.hpp"

#include "parmap/error.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

namespace parmap {
namespace {

std::string message_of(int code)
{
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

} // namespace

struct Regex::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* data = nullptr; ///< Scratch for one match at a time.
  std::string what;

  ~Impl()
  {
    pcre2_match_data_free(data);
    pcre2_code_free(code);
  }

  /// pcre2_match's result: >= 0 a match, PCRE2_ERROR_NOMATCH or PCRE2_ERROR_PARTIAL; any other
  /// error (a match limit hit by a pathological pattern) throws.
  int match(std::string_view subject, std::size_t from, std::uint32_t options) const
  {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), from,
                         options, data, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && rc != PCRE2_ERROR_PARTIAL) {
      throw Error(what + ": " + message_of(rc));
    }
    return rc;
  }
  Match span() const
  {
    const PCRE2_SIZE* v = pcre2_get_ovector_pointer(data);
    return Match{v[0], v[1]};
  }
};

Regex::Regex(std::string_view pattern, std::string_view what) : m_impl(std::make_unique<Impl>())
{
  m_impl->what = std::string(what);
  int error = 0;
  PCRE2_SIZE offset = 0;
  m_impl->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                               PCRE2_MULTILINE, &error, &offset, nullptr);
  if (m_impl->code == nullptr) {
    throw Error(m_impl->what + ": '" + std::string(pattern) + "' is not a valid regular expression (" +
                message_of(error) + " at offset " + std::to_string(offset) + ")");
  }
  // The JIT is several times faster on large blocks; without it PCRE2 interprets, which is
  // still correct.
  pcre2_jit_compile(m_impl->code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
  m_impl->data = pcre2_match_data_create_from_pattern(m_impl->code, nullptr);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

std::optional<Regex::Match> Regex::find(std::string_view subject, std::size_t from) const
{
  if (from > subject.size() || m_impl->match(subject, from, 0) < 0) {
    return std::nullopt;
  }
  return m_impl->span();
}

Regex::Prefix Regex::match_prefix(std::string_view subject, Match& match, bool more_may_come) const
{
  int rc = m_impl->match(subject, 0, PCRE2_ANCHORED | (more_may_come ? PCRE2_PARTIAL_HARD : 0));
  if (rc == PCRE2_ERROR_PARTIAL) {
    return Prefix::partial;
  }
  if (rc < 0) {
    return Prefix::none;
  }
  match = m_impl->span();
  return Prefix::matched;
}

} // namespace parmap
