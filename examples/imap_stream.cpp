// imap_stream: runs a shell command once per item, four at a time, and prints each result as
// soon as it and every result before it are done (input order).
//
//   imap_stream 'sleep {}; echo slept {}' 0.6 0.2 0.4     items from the command line
//   seq 5 | imap_stream 'echo $(( {} * {} ))'             items from stdin, one per line
#include <parmap/parmap.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

int main(int argc, char** argv)
{
  if (argc < 2) {
    std::fprintf(stderr, "usage: imap_stream COMMAND [ITEM...]  (no ITEM: items from stdin)\n");
    return 2;
  }
  // One word with shell syntax runs through /bin/sh -c. {} is the item, which the shell gets
  // as data ("${1}"), never as code.
  parmap::Command command{argv[1]};
  // Items from argv, or lines of stdin, read lazily: only as far as the run needs them.
  parmap::Items items = argc > 2 ? parmap::Items(std::vector<std::string>(argv + 2, argv + argc))
                                 : parmap::Items::from_fd(STDIN_FILENO);
  parmap::Options options;
  options.jobs = 4;
  options.halt = parmap::Halt::keep_going(); // a failed item is a result, not an exception
  // options.order = parmap::Order::as_ready; // uncomment: results as they finish

  auto t0 = std::chrono::steady_clock::now();
  // Nothing runs until the loop starts; each step of the loop runs until the next result.
  parmap::Results results = parmap::imap(command, std::move(items), options);
  for (const parmap::Result& r : results) {
    std::chrono::duration<double> at = std::chrono::steady_clock::now() - t0;
    std::string out = r.out.str(); // what the item wrote to stdout
    if (!out.empty() && out.back() == '\n') {
      out.pop_back();
    }
    std::printf("%5.2fs  #%llu %s: %s (exit %d) %s\n", at.count(),
                static_cast<unsigned long long>(r.seq), r.item.c_str(),
                parmap::to_string(r.status), r.exit_code, out.c_str());
    std::fflush(stdout);
  }
  // Leaving the loop early (break) would stop the run and kill the running items.
  return results.summary().exit_status(); // what the parmap command would exit with
}
