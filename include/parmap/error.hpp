// parmap::Error: what the library throws for a setup, input or I/O failure that ends a run.
#pragma once

#include <stdexcept>
#include <string>

namespace parmap {

/// A failure of the run itself rather than of one item: a bad option, an unreadable input file,
/// a checkpoint that is not parmap's or does not match, a failed write to the output. The
/// `parmap` executable reports it in one line and exits with status 255.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace parmap
