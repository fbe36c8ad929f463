# Runs doxygen on the configured Doxyfile and fails on any warning, printing them.
# Used by the `docs` target and the `docs_reference` test:
#   cmake -DDOXYGEN=<path or ...-NOTFOUND> -DDOXYFILE=<configured Doxyfile> -P run-doxygen.cmake
if(NOT DOXYGEN)
    message(FATAL_ERROR "The reference manual needs doxygen, which was not found when the build "
                        "was configured: install it (Debian package doxygen, listed in "
                        "scripts/install-deps.sh) and configure the build again.")
endif()
if(NOT EXISTS "${DOXYFILE}")
    message(FATAL_ERROR "The configured Doxyfile ${DOXYFILE} does not exist: configure the build again.")
endif()

execute_process(
    COMMAND "${DOXYGEN}" "${DOXYFILE}"
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE warnings
    TIMEOUT 120
)
# QUIET = YES: doxygen prints nothing but its warnings and errors (on stderr).
string(STRIP "${output}" output)
string(STRIP "${warnings}" warnings)
if(output)
    message("${output}")
endif()
if(NOT result EQUAL 0 OR warnings)
    # Printed as doxygen wrote them (file:line: text), for editors to jump to.
    message("${warnings}")
    message(FATAL_ERROR "doxygen failed (exit status: ${result}): every doxygen warning, such as "
                        "an undocumented public member, fails the reference manual.")
endif()
