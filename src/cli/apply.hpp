// apply: the options' values, parsed (values.hpp) and checked, into parmap::Options; the
// combinations parmap refuses.
#pragma once

#include "raw_options.hpp"

#include "parmap/parmap.hpp"

namespace parmap::cli {

/// Sets what `r` says in `o`: numbers, -j (or -j FILE), --halt, the output format, shell and
/// order. Throws UsageError for a bad value or options that contradict each other.
void apply_values(const Raw& r, Options& o);

} // namespace parmap::cli
