# Reads the quick run's JSON with CMake's own parser: every figure is there, with a number for
# each library (engine_only: for ours and for the openssl speed ceiling), the handshake
# figures' OpenSSL pair and the bulk figures' OpenSSL-only series.
#   cmake -DJSON=quick.json -P checkjson.cmake
if(NOT EXISTS "${JSON}")
    message(FATAL_ERROR "${JSON} does not exist")
endif()
file(READ "${JSON}" text)
string(JSON figures ERROR_VARIABLE error GET "${text}" figures)
if(error)
    message(FATAL_ERROR "${JSON}: ${error}")
endif()
set(expected
    bulk_2proc bulk_1proc
    handshakes_ecdsa handshakes_ecdsa_setters handshakes_ecdsa_systemca handshakes_resumed
    handshakes_rsa handshakes_rsa_setters
    concurrent_500 idle_memory_client idle_memory_server
    idle_memory_client_setters idle_memory_server_setters echo_rtt_median echo_rtt_p99
    latency_server_greets_median latency_server_greets_p99
    latency_client_first_median latency_client_first_p99
    engine_only system_ca_first system_ca_second)
set(problems "")
foreach(figure IN LISTS expected)
    set(series ours qt)
    if(figure STREQUAL "engine_only")
        set(series ours ceiling)
    endif()
    foreach(name IN LISTS series)
        string(JSON type ERROR_VARIABLE error TYPE "${text}" figures ${figure} ${name} median)
        if(error OR NOT type STREQUAL "NUMBER")
            list(APPEND problems "${figure}.${name}.median")
        endif()
    endforeach()
endforeach()
# The handshake figures' floor: OpenSSL's own pair, timed beside ours and Qt.
foreach(figure handshakes_ecdsa handshakes_rsa)
    string(JSON type ERROR_VARIABLE error TYPE "${text}" figures ${figure} openssl_pair per_s)
    if(error OR NOT type STREQUAL "NUMBER")
        list(APPEND problems "${figure}.openssl_pair.per_s")
    endif()
endforeach()
# The bulk figures' ceiling: OpenSSL alone, timed beside ours and Qt.
foreach(path "bulk_2proc;openssl" "bulk_2proc;openssl_membio" "bulk_1proc;openssl_membio")
    string(JSON type ERROR_VARIABLE error TYPE "${text}" figures ${path} median)
    if(error OR NOT type STREQUAL "NUMBER")
        string(REPLACE ";" "." name "${path}")
        list(APPEND problems "${name}.median")
    endif()
endforeach()
if(problems)
    message(FATAL_ERROR "no number in ${JSON} for: ${problems}")
endif()
message(STATUS "${JSON}: every figure has its numbers")
