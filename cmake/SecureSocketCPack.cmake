# Debian packages (`cpack -G DEB` in the build directory), one per install component:
#   libsecuresocket0      "runtime": the shared library (.so.N) and the LICENSE
#   libsecuresocket-dev   "dev": headers, the .so link, the CMake and pkg-config files
# The examples (securesocket-probe...) are in no package. Configure with
# -DCMAKE_INSTALL_PREFIX=/usr to get Debian's multiarch library directory
# (lib/x86_64-linux-gnu); the packages install under /usr either way.
set(CPACK_PACKAGE_NAME "securesocket")
set(CPACK_PACKAGE_VENDOR "The SecureSocket authors")
set(CPACK_PACKAGE_CONTACT "The SecureSocket authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "QTcpSocket with TLS for Qt 6, driven by OpenSSL 3")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime dev)
# Debian ships the debug information apart (-dbgsym packages); ours go without it.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "The SecureSocket authors")
set(CPACK_DEBIAN_PACKAGE_SECTION libs)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "libsecuresocket${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# dpkg-shlibdeps finds the runtime's dependencies (libQt6Network6, libssl3...) from the .so.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# A shlibs file, so that packages built against this one get their dependency on it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "QTcpSocket with TLS for Qt 6, driven by OpenSSL 3: the shared library")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME "libsecuresocket-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "${CPACK_DEBIAN_RUNTIME_PACKAGE_NAME} (= ${PROJECT_VERSION}), qt6-base-dev (>= 6.4), libssl-dev (>= 3.0)")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "QTcpSocket with TLS for Qt 6, driven by OpenSSL 3: headers, CMake and pkg-config files")

# At cpack time: a warning when the library directory is not Debian's multiarch one.
set(SECURESOCKET_CPACK_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(SECURESOCKET_CPACK_MULTIARCH_LIBDIR lib/${CMAKE_LIBRARY_ARCHITECTURE})
configure_file(${CMAKE_CURRENT_LIST_DIR}/SecureSocketCPackProject.cmake.in
    ${PROJECT_BINARY_DIR}/SecureSocketCPackProject.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/SecureSocketCPackProject.cmake)

include(CPack)
