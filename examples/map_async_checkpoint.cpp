// map_async_checkpoint: map_async with a checkpoint. The first run computes every item and
// records its result in a SQLite file; a run with --resume replays what is recorded and
// computes only the new items.
//
//   map_async_checkpoint squares.db 1 2 3                computes 1 2 3
//   map_async_checkpoint --resume squares.db 1 2 3 4     replays 1 2 3, computes 4
#include <parmap/parmap.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
  std::vector<std::string> args(argv + 1, argv + argc);
  parmap::Options options;
  if (!args.empty() && args.front() == "--resume") {
    options.resume = true; // without it, an existing checkpoint is an error, never overwritten
    args.erase(args.begin());
  }
  if (args.empty()) {
    std::cerr << "usage: map_async_checkpoint [--resume] CHECKPOINT [ITEM...]\n";
    return 2;
  }
  options.checkpoint = args.front();
  options.jobs = 2;
  std::vector<std::string> items(args.begin() + 1, args.end());

  // The run goes on another thread; the future holds all the results (in input order), or the
  // exception that ended the run. The command must be the same on resume.
  auto future = parmap::map_async({"sleep 0.2; echo $(( {} * {} ))"}, items, options);
  std::cout << "running..." << std::endl; // free to do something else meanwhile
  try {
    for (const parmap::Result& r : future.get()) {
      std::string out = r.out.str(); // a replayed result has its recorded output
      std::cout << r.item << " squared is " << out.substr(0, out.find('\n'))
                << (r.replayed ? "  (replayed)" : "  (computed)") << '\n';
    }
  } catch (const parmap::ItemFailed& e) { // fail-fast: the first failed item
    std::cerr << e.what() << '\n' << e.result().err.str();
    return 1;
  } catch (const parmap::Error& e) { // bad options or checkpoint, reported before any item ran
    std::cerr << "error: " << e.what() << '\n';
    return 255;
  }
  return 0;
}
