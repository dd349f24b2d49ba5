# cmake --install: the binary, man page and completions; the library, its header and a CMake
# package (find_package(parmap) -> parmap::parmap).
include(CMakePackageConfigHelpers)

install(TARGETS parmap RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS parmap_lib EXPORT parmapTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/parmap DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT parmapTargets NAMESPACE parmap::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/parmap)
configure_package_config_file(cmake/parmapConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/parmapConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/parmap)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/parmapConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/parmapConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/parmapConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/parmap)

install(FILES man/parmap.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES completions/parmap.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME parmap)
install(FILES completions/_parmap DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(FILES completions/parmap.fish DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME parmap)
set(CPACK_PACKAGE_CONTACT "parmap maintainers <parmap@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
include(CPack)
