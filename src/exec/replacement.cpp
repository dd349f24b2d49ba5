#include "exec/replacement.hpp"

#include "parmap/error.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace parmap {
namespace {

struct Edit {
  std::string_view suffix;
  PathEdit edit;
};
// Longest first, so that "//" is not read as "/" followed by text.
constexpr std::array k_edits{Edit{"//", PathEdit::dirname}, Edit{"/.", PathEdit::basename_no_ext},
                             Edit{"/", PathEdit::basename}, Edit{".", PathEdit::no_extension},
                             Edit{"", PathEdit::none}};

/// GNU parallel's --plus replacement strings (without their braces): refused by name.
constexpr std::array<std::string_view, 18> k_plus{
    "+/",   "+.",  "+..",      "+...", "..",   "...",      "/..",  "/...", "##",
    "0#",   "0%",  "choose_k", "uniq", "slot", "sshlogin", "host", "agrp", "hgrp"};

constexpr std::string_view k_have = "{} {.} {/} {//} {/.} {#} {%} {N} {-N} {N.} {N/} {N//} {N/.}";

/// The edit `body` ends with after `head`, when body is exactly head + an edit suffix.
bool split_edit(std::string_view body, std::string_view head, PathEdit& edit)
{
  if (!body.starts_with(head)) {
    return false;
  }
  std::string_view rest = body.substr(head.size());
  for (const auto& e : k_edits) {
    if (rest == e.suffix) {
      edit = e.edit;
      return true;
    }
  }
  return false;
}

bool all_digits(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// {n} {-n} with an edit: n >= 1 (a zero or a leading zero is literal text).
bool positional(std::string_view body, Token& out)
{
  bool negative = body.starts_with('-');
  std::string_view digits = body.substr(negative ? 1 : 0);
  std::size_t end = 0;
  while (end < digits.size() && digits[end] >= '0' && digits[end] <= '9') {
    ++end;
  }
  if (end == 0 || digits[0] == '0' || end > 6 || !split_edit(digits, digits.substr(0, end), out.edit)) {
    return false;
  }
  int n = 0;
  std::from_chars(digits.data(), digits.data() + end, n);
  out.kind = Token::Kind::value;
  out.position = negative ? -n : n;
  return true;
}

/// {name} with an edit, for a --header column; the longest name wins.
bool named(std::string_view body, const std::vector<std::string>& columns, Token& out)
{
  std::size_t best = 0;
  bool found = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    PathEdit edit{};
    if (!columns[i].empty() && columns[i].size() >= best && split_edit(body, columns[i], edit)) {
      found = true;
      best = columns[i].size();
      out.kind = Token::Kind::value;
      out.edit = edit;
      out.position = static_cast<int>(i) + 1;
    }
  }
  return found;
}

/// GNU parallel syntax that must not reach the command as text.
void refuse_gnu_only(std::string_view body)
{
  std::string shown;
  shown.append(1, '{').append(body).append(1, '}'); // not "{" + ...: a GCC 12 -O3 false positive
  if (std::find(k_plus.begin(), k_plus.end(), body) != k_plus.end() || body.starts_with(":-") ||
      (body.starts_with(':') && all_digits(body.substr(1, body.find(':', 1) - 1)))) {
    throw Error(shown + " is a GNU parallel --plus replacement string; parmap does not have "
                        "--plus (it has " + std::string(k_have) + ")");
  }
}

} // namespace

Tokens parse_word(std::string_view word, const Spellings& spellings)
{
  Tokens tokens;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) {
      tokens.push_back({Token::Kind::literal, std::move(literal)});
      literal.clear();
    }
  };
  std::size_t i = 0;
  while (i < word.size()) {
    std::string_view rest = word.substr(i);
    if (!spellings.item.empty() && rest.starts_with(spellings.item)) {
      flush();
      tokens.push_back({Token::Kind::value, spellings.item});
      i += spellings.item.size();
      continue;
    }
    if (rest.starts_with("{=")) {
      throw Error("{= perl expression =} is GNU parallel's; parmap has no Perl replacement "
                  "strings (run the value through a shell one-word template instead)");
    }
    auto close = rest.find('}');
    if (rest[0] != '{' || close == std::string_view::npos) {
      literal.push_back(word[i++]);
      continue;
    }
    std::string_view body = rest.substr(1, close - 1);
    Token t{Token::Kind::value, std::string(rest.substr(0, close + 1))};
    bool matched = true;
    if (body == "#" || body == "%") {
      t.kind = body == "#" ? Token::Kind::seq : Token::Kind::slot;
    } else if (!body.empty() && split_edit(body, "", t.edit) && t.edit != PathEdit::none) {
      t.position = 0; // {.} {/} {//} {/.}
    } else if (!positional(body, t) && !named(body, spellings.columns, t)) {
      refuse_gnu_only(body);
      matched = false;
    }
    if (!matched) {
      literal.push_back(word[i++]);
      continue;
    }
    flush();
    tokens.push_back(std::move(t));
    i += close + 1;
  }
  flush();
  if (tokens.empty()) {
    tokens.push_back({Token::Kind::literal, {}});
  }
  return tokens;
}

const std::string* pick(std::span<const std::string> args, int position)
{
  auto n = static_cast<std::size_t>(position < 0 ? -position : position);
  if (position == 0 || n > args.size()) {
    return nullptr;
  }
  return &args[position > 0 ? n - 1 : args.size() - n];
}

void append_edited(std::string& out, std::string_view value, PathEdit edit)
{
  switch (edit) {
  case PathEdit::none:
    out.append(value);
    break;
  case PathEdit::no_extension:
    out.append(without_extension(value));
    break;
  case PathEdit::basename:
    out.append(path_basename(value));
    break;
  case PathEdit::dirname:
    out.append(path_dirname(value));
    break;
  case PathEdit::basename_no_ext:
    out.append(without_extension(path_basename(value)));
    break;
  }
}

void append_token_value(std::string& out,
                        const Token& token,
                        const RenderContext& ctx,
                        std::size_t index)
{
  std::array<char, 24> buf{};
  switch (token.kind) {
  case Token::Kind::literal:
    out.append(token.text);
    return;
  case Token::Kind::seq:
  case Token::Kind::slot: {
    auto number = token.kind == Token::Kind::seq ? ctx.seq : std::uint64_t{ctx.slot};
    auto res = std::to_chars(buf.data(), buf.data() + buf.size(), number);
    out.append(buf.data(), res.ptr);
    return;
  }
  case Token::Kind::value:
    break;
  }
  const std::string* value = token.is_list()
                                 ? (index < ctx.args.size() ? &ctx.args[index] : nullptr)
                                 : pick(ctx.args, token.position);
  if (value != nullptr) {
    append_edited(out, *value, token.edit);
  }
}

bool is_plain_number(std::string_view s)
{
  if (s.starts_with('-') || s.starts_with('+')) {
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    return std::all_of(s.begin() + 2, s.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  }
  return all_digits(s);
}

std::string_view without_extension(std::string_view path)
{
  // GNU parallel: s:\.[^/.]*$:: — drop the last '.' and what follows, within the last component.
  auto dot = path.find_last_of("./");
  if (dot == std::string_view::npos || path[dot] != '.') {
    return path;
  }
  return path.substr(0, dot);
}

std::string_view path_basename(std::string_view path)
{
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string path_dirname(std::string_view path)
{
  // POSIX dirname(3), like Perl's File::Basename::dirname that GNU parallel uses.
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return ".";
  }
  path = path.substr(0, slash);
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  return path.empty() ? std::string("/") : std::string(path);
}

} // namespace parmap
