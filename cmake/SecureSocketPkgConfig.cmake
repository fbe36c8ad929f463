# Writes SecureSocket.pc at install time (included by an install(CODE) of src/CMakeLists.txt),
# with the prefix being installed to. CPack installs into a staging directory whose
# CMAKE_INSTALL_PREFIX is not the package's: there the packaging prefix (/usr) is the right one.
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(CPACK_PACKAGING_INSTALL_PREFIX)
    set(_prefix "${CPACK_PACKAGING_INSTALL_PREFIX}")
endif()
# GNUInstallDirs directories are relative to the prefix unless the user made them absolute.
foreach(_dir LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${SECURESOCKET_PC_${_dir}}")
        set(SECURESOCKET_PC_${_dir}_VALUE "${SECURESOCKET_PC_${_dir}}")
    else()
        set(SECURESOCKET_PC_${_dir}_VALUE "\${prefix}/${SECURESOCKET_PC_${_dir}}")
    endif()
endforeach()
set(SECURESOCKET_PC_PREFIX "${_prefix}")
configure_file("${SECURESOCKET_PC_IN}" "${SECURESOCKET_PC_OUT}" @ONLY)
