# Fails when the sanitizers wrote any report during the test run.
file(GLOB reports "${DIR}/*")
if(reports)
  foreach(report IN LISTS reports)
    file(READ ${report} text)
    message("${report}:\n${text}")
  endforeach()
  message(FATAL_ERROR "sanitizer reports were written (see above)")
endif()
