# Compiler settings shared by every target: warnings, sanitizers, assertions.
add_library(parmap_settings INTERFACE)
target_compile_options(parmap_settings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  $<$<BOOL:${PARMAP_WERROR}>:-Werror>
  # GCC 12 reports false -Wrestrict overlaps in std::string's operator+ at -O2/-O3 (GCC PR 105329).
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)
target_compile_definitions(parmap_settings INTERFACE
  $<$<CONFIG:Debug>:_GLIBCXX_ASSERTIONS>
  PARMAP_VERSION="${PROJECT_VERSION}")

if(PARMAP_SANITIZE)
  target_compile_options(parmap_settings INTERFACE
    -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
  target_link_options(parmap_settings INTERFACE -fsanitize=address,undefined,float-cast-overflow)
endif()
if(PARMAP_TSAN)
  target_compile_options(parmap_settings INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(parmap_settings INTERFACE -fsanitize=thread)
endif()
