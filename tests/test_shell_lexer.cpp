// The shell lexer: the quoting context and arithmetic flag of each marker, here-documents,
// comments, and the top-level word around each marker.
#include "exec/shell_lexer.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace parmap;

namespace {

/// Lexes `text` with '@' standing for the marker.
ShellLex lex(std::string text)
{
  for (auto& c : text) {
    c = c == '@' ? '\0' : c;
  }
  return lex_shell(text, '\0');
}

ShellContext context_of(const std::string& text)
{
  auto l = lex(text);
  REQUIRE(l.markers.size() == 1);
  return l.markers[0].context;
}

bool arithmetic(const std::string& text)
{
  auto l = lex(text);
  REQUIRE(l.markers.size() == 1);
  return l.markers[0].arithmetic;
}

} // namespace

TEST_CASE("shell lexer: quoting contexts")
{
  struct Case {
    std::string text;
    ShellContext context;
  };
  const std::vector<Case> cases = {
      {"echo @", ShellContext::plain},
      {"echo \"@", ShellContext::dquote},
      {"echo \"a\" @", ShellContext::plain},
      {"echo '@", ShellContext::squote},
      {"echo '\"@", ShellContext::squote},
      {"echo \"'@", ShellContext::dquote},
      {"echo \\\"@", ShellContext::plain},
      {"echo \"$(@", ShellContext::plain},
      {"echo \"$(cat \"@", ShellContext::dquote},
      {"echo \"$(cat) @", ShellContext::dquote},
      {"echo \"`@", ShellContext::plain},
      {"echo \"`x` @", ShellContext::dquote},
      {"echo $(( @", ShellContext::arith},
      {"echo $(( (1 + @", ShellContext::arith},
      {"echo $(( (1) + 2 )) @", ShellContext::plain},
      {"echo ${x:-@", ShellContext::plain},
      {"echo \"${x:-@", ShellContext::plain},
      {"echo $'it\\'s @", ShellContext::dollar_squote},
      {"echo $'a' '@'", ShellContext::squote},
      {"echo $[ 1 + @ ]", ShellContext::arith},
      {"(( @ > 1 ))", ShellContext::arith},
      {"for ((i=@; i<3; i++)); do :; done", ShellContext::arith},
      {"echo ${x:@}", ShellContext::arith},
      {"echo ${x[@]}", ShellContext::arith},
      {"a[@]=1", ShellContext::arith},
      {"echo a[b] @", ShellContext::plain},
      {"echo $(( $(echo @) ))", ShellContext::plain},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(context_of(c.text) == c.context);
  }
}

TEST_CASE("shell lexer: comments")
{
  CHECK(context_of("echo x # it's @") == ShellContext::comment);
  CHECK(context_of("echo x # it's a comment\necho '@") == ShellContext::squote);
  // An apostrophe in a comment does not open a quote: the next line is plain again.
  CHECK(context_of("# don't\necho @") == ShellContext::plain);
  CHECK(context_of("echo a#b @") == ShellContext::plain); // '#' inside a word is text
  CHECK(context_of("echo ${#x} @") == ShellContext::plain);
  CHECK(context_of("echo $# @") == ShellContext::plain);
  CHECK(context_of("x=$(echo 1 # it's\n) ; echo @") == ShellContext::plain);
}

TEST_CASE("shell lexer: here-documents")
{
  SUBCASE("an unquoted body expands: references go in bare")
  {
    CHECK(context_of("cat <<EOF\n[@]\nEOF") == ShellContext::heredoc);
    CHECK(context_of("cat <<-EOF\n\t[@]\n\tEOF\necho x") == ShellContext::heredoc);
    CHECK(lex("cat <<EOF\n@\nEOF").literal_heredocs.empty());
  }
  SUBCASE("after the delimiter line, lexing goes on as before")
  {
    CHECK(context_of("cat <<EOF\nit's\nEOF\necho @") == ShellContext::plain);
    CHECK(context_of("cat <<-EOF\n\tit's\n\tEOF\necho @") == ShellContext::plain);
    CHECK(context_of("cat <<'EOF'\n\"\nEOF\necho @") == ShellContext::plain);
    CHECK(context_of("cat <<A <<B\n'\nA\n\"\nB\necho @") == ShellContext::plain);
    CHECK(context_of("cat <<EOF | tr a b\nx\nEOF\necho '@'") == ShellContext::squote);
  }
  SUBCASE("the quotes and $( of a body do not leak")
  {
    CHECK(context_of("cat <<EOF\n$(echo 'x')\nEOF\necho @") == ShellContext::plain);
    CHECK(context_of("cat <<EOF\n\"$(echo @)\"\nEOF") == ShellContext::plain);
  }
  SUBCASE("a quoted body is recorded, to be made unquoted")
  {
    auto l = lex("cat <<'EOF'\n$HOME [@]\nEOF\n");
    REQUIRE(l.markers.size() == 1);
    CHECK(l.markers[0].context == ShellContext::heredoc);
    REQUIRE(l.literal_heredocs.size() == 1);
    const auto& h = l.literal_heredocs[0];
    CHECK(h.delimiter == "EOF");
    CHECK(h.delimiter_begin == 6);
    CHECK(h.delimiter_end == 11);
    CHECK(h.body_begin == 12);
    CHECK(h.body_end == 22); // up to the delimiter line: the body's last newline included
    CHECK(lex("cat <<\"E\"O\\F\nx@\nEOF\n").literal_heredocs.at(0).delimiter == "EOF");
  }
  SUBCASE("what cannot be made right is refused")
  {
    CHECK_THROWS_AS(lex("cat <<@\nx\n"), Error);
    CHECK_THROWS_AS(lex("cat <<'E F'\n@\nE F\n"), Error);
    CHECK_NOTHROW(lex("cat <<'E F'\nno marker\nE F\n"));
  }
  SUBCASE("a here-string is not a here-document")
  {
    CHECK(context_of("cat <<< x\necho '@") == ShellContext::squote);
  }
}

TEST_CASE("shell lexer: where the shell evaluates a value as arithmetic")
{
  for (std::string text : {"echo $(( @ + 1 ))", "echo $(( \"@\" ))", "(( @ ))", "echo $[@]",
                           "echo ${x:@:1}", "echo ${x:1:@}", "echo ${a[@]}", "a[@]=1",
                           "[ @ -eq 1 ]", "[ 1 -lt \"@\" ]", "[[ @ -ge 2 ]]", "test @ -ne 0",
                           "let x=@+1", "let \"x = @\"", "echo $(( $(echo @) ))",
                           "[ \"$(echo @)\" -gt 1 ]"}) {
    CAPTURE(text);
    CHECK(arithmetic(text));
  }
  for (std::string text : {"echo @", "echo \"@\" eq", "[ @ = 1 ]", "echo ${x:-@}",
                           "echo ${x:=@}", "echo ${#@}", "x=1; echo @ -o", "echo let @",
                           "let x=1; echo @", "[ 1 -eq 1 ] && echo @", "cat <<EOF\n@\nEOF"}) {
    CAPTURE(text);
    CHECK_FALSE(arithmetic(text));
  }
}

TEST_CASE("shell lexer: the top-level word around each marker")
{
  auto l = lex("echo x@y \"a @ b\" $(echo @) z");
  REQUIRE(l.markers.size() == 3);
  CHECK(l.markers[0].word_begin == 5);
  CHECK(l.markers[0].word_end == 8);
  CHECK(l.markers[1].word_begin == 9);
  CHECK(l.markers[1].word_end == 16);
  CHECK(l.markers[2].word_begin == 17);
  CHECK(l.markers[2].word_end == 26);
  auto body = lex("cat <<EOF\na @ b\nEOF");
  CHECK(body.markers[0].word_begin == 12);
  CHECK(body.markers[0].word_end == 13);
  // A trailing backslash escapes nothing: the word ends with the text, not past it.
  auto open = lex("x@ \"y @\\");
  REQUIRE(open.markers.size() == 2);
  CHECK(open.markers[1].word_end == 8);
}

TEST_CASE("shell lexer: odd input stays bounded")
{
  for (std::string text : {"$(", "$((", "${", "`", "'", "\"", "\\", "<<'", "cat <<EOF\n",
                           "((", "a[", "$'", "#", ")))", "}}}", "]]]", "$(( ) ))",
                           "cat <<EOF\n$(", "echo $(cat <<X\n@\nX\n)"}) {
    CAPTURE(text);
    CHECK_NOTHROW(lex(text + "@"));
  }
}
