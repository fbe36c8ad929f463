#!/usr/bin/env bash
# The package tests (tests/package/CMakeLists.txt runs one step per ctest test):
#   bash package-test.sh ENV_FILE STEP
# ENV_FILE is package-env.sh, written by CMake: the build under test, its compiler and flags.
# STEP is one of: install, cmake_install, cmake_buildtree, pkgconfig, subdirectory, deb,
# minimum_versions, fetchcontent, getting_started. Any failure exits non-zero with a sentence saying what failed.
# shellcheck disable=SC2154 # the build's variables come from ENV_FILE
set -euo pipefail

env_file=$1
step=$2
# shellcheck source=/dev/null
source "$env_file"
here=$(cd "$(dirname "$0")" && pwd)
prefix=$work_dir/prefix

fail() {
    echo "package_$step: $*" >&2
    exit 1
}

for tool in openssl pkg-config make timeout; do
    command -v "$tool" >/dev/null || fail "the tool '$tool' is missing (scripts/install-deps.sh installs it)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/securesocket-package.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# The configure arguments every CMake consumer shares with the build under test.
consumer_cmake_args=(-G "$generator" -DCMAKE_MAKE_PROGRAM="$make_program"
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type"
    -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$link_flags"
    -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" -DQt6_DIR="$qt6_dir")
if [ -n "$cxx_launcher" ]; then
    consumer_cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$cxx_launcher")
fi

# run LOG COMMAND...: runs a command with its output in LOG; on failure, shows the end of LOG.
run() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "'$*' failed (output above)"
    fi
}

# A CA and a server certificate for localhost (DNS and IP names), made fresh for each run.
make_pki() {
    local dir=$tmp/pki
    mkdir -p "$dir"
    run "$dir/log" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj "/CN=SecureSocket package test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    run "$dir/log" openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
        >"$dir/server.ext"
    run "$dir/log" openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
        -CAkey "$dir/ca.key" -CAcreateserial -days 2 -extfile "$dir/server.ext" \
        -out "$dir/server.pem"
}

# run_consumer PROGRAM: starts `openssl s_server -rev` (one connection) on a free loopback port
# and runs PROGRAM PORT CA_FILE against it; PROGRAM must exit 0.
run_consumer() {
    local program=$1
    make_pki
    local log=$tmp/s_server.log
    openssl s_server -accept 127.0.0.1:0 -cert "$tmp/pki/server.pem" -key "$tmp/pki/server.key" \
        -naccept 1 -rev </dev/null >"$log" 2>&1 &
    server_pid=$!
    local port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")
        if [ -n "$port" ] || ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$log" >&2; fail "openssl s_server never said which port it listens on"; }
    local status=0
    timeout 60 "$program" "$port" "$tmp/pki/ca.pem" || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        fail "the consumer '$program' exited with status $status against openssl s_server"
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# The installed directory holding SecureSocket.pc (lib/pkgconfig or the multiarch one).
pkgconfig_dir() {
    local pc
    pc=$(find "$prefix" -name SecureSocket.pc -path '*/pkgconfig/*' | head -n 1)
    [ -n "$pc" ] || fail "no SecureSocket.pc under $prefix: did package_install run?"
    dirname "$pc"
}

# configure_consumer BUILD_DIR ARGS...: configures consumer/ into BUILD_DIR.
configure_consumer() {
    local dir=$1
    shift
    run "$tmp/configure.log" timeout 300 "$cmake" -S "$here/consumer" -B "$dir" \
        "${consumer_cmake_args[@]}" "$@"
}

cache_value() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }

case "$step" in
install)
    rm -rf "$prefix"
    for component in runtime dev; do
        run "$tmp/install.log" timeout 100 "$cmake" --install "$build_dir" --prefix "$prefix" \
            --component "$component"
    done
    for header in SecureSocket SecureServer SecureConfiguration SecureCertificate VerifyError \
        SecureSocketVersion securesocket.h securesocket_export.h securesocket_version.h; do
        [ -f "$prefix/include/SecureSocket/$header" ] \
            || fail "the header SecureSocket/$header is not installed"
    done
    [ -f "$prefix/share/doc/SecureSocket/LICENSE" ] || fail "the LICENSE is not installed"
    pcdir=$(pkgconfig_dir)
    libdir=$(dirname "$pcdir")
    for file in libSecureSocket.so libSecureSocket.so.0 cmake/SecureSocket/SecureSocketConfig.cmake \
        cmake/SecureSocket/SecureSocketConfigVersion.cmake cmake/SecureSocket/SecureSocketTargets.cmake; do
        [ -e "$libdir/$file" ] || fail "$file is not installed in $libdir"
    done
    grep -qx "prefix=$prefix" "$libdir/pkgconfig/SecureSocket.pc" \
        || fail "SecureSocket.pc does not name the prefix installed to ($prefix)"
    ;;
cmake_install)
    configure_consumer "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix"
    found=$(cache_value "$tmp/build" SecureSocket_DIR)
    case "$found" in "$prefix"/*) ;; *) fail "find_package found SecureSocket in '$found', not in $prefix" ;; esac
    run "$tmp/build.log" timeout 300 "$cmake" --build "$tmp/build"
    run_consumer "$tmp/build/consumer"
    ;;
cmake_buildtree)
    configure_consumer "$tmp/build" -DSecureSocket_DIR="$build_dir"
    run "$tmp/build.log" timeout 300 "$cmake" --build "$tmp/build"
    run_consumer "$tmp/build/consumer"
    ;;
pkgconfig)
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(pkgconfig_dir)
    pkg-config --exists --print-errors SecureSocket || fail "pkg-config does not find SecureSocket"
    version=$(pkg-config --modversion SecureSocket)
    grep -q "SECURESOCKET_VERSION_STR \"$version\"" "$prefix/include/SecureSocket/securesocket_version.h" \
        || fail "SecureSocket.pc says version $version, the version header does not"
    mkdir "$tmp/make"
    cp "$here/consumer/main.cpp" "$here/consumer/Makefile" "$tmp/make/"
    CXXFLAGS="$cxx_flags" LDFLAGS="$link_flags" run "$tmp/make.log" timeout 300 \
        make -C "$tmp/make" CXX="$cxx"
    LD_LIBRARY_PATH="$(pkg-config --variable=libdir SecureSocket)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        run_consumer "$tmp/make/consumer"
    ;;
subdirectory)
    # Kept between runs, so that only the first one builds the whole library.
    dir=$work_dir/subdirectory-build
    # No optimisation (an empty build type) for this copy of the library: it is only linked
    # by the consumer, and it compiles in about half the time.
    configure_consumer "$dir" -DSECURESOCKET_SOURCE_DIR="$source_dir" -DCMAKE_BUILD_TYPE=
    for option in SECURESOCKET_BUILD_TESTS SECURESOCKET_BUILD_EXAMPLES SECURESOCKET_BUILD_BENCH; do
        [ "$(cache_value "$dir" "$option")" = OFF ] \
            || fail "$option is not OFF by default in a project that adds SecureSocket as a subdirectory"
    done
    run "$tmp/build.log" timeout 1100 "$cmake" --build "$dir" --target consumer
    run_consumer "$dir/consumer"
    ;;
fetchcontent)
    # The FetchContent way of doc/packaging.md, configured only (the build is the one of
    # subdirectory): the override makes FetchContent take this source tree instead of cloning.
    configure_consumer "$tmp/build" -DSECURESOCKET_GIT_REPOSITORY=https://invalid.example/securesocket.git \
        -DSECURESOCKET_GIT_TAG=v0.1.0 -DFETCHCONTENT_SOURCE_DIR_SECURESOCKET="$source_dir"
    [ "$(cache_value "$tmp/build" SECURESOCKET_BUILD_TESTS)" = OFF ] \
        || fail "FetchContent_MakeAvailable did not add SecureSocket as a subproject"
    ;;
getting_started)
    # doc/getting-started.md: its CMakeLists.txt next to imaps_client.cpp, in an empty directory,
    # against the installed library, as the guide says.
    mkdir -p "$tmp/src"
    cp "$source_dir/doc/snippets/getting-started/CMakeLists.txt" \
        "$source_dir/doc/snippets/imaps_client.cpp" "$tmp/src/"
    run "$tmp/configure.log" timeout 300 "$cmake" -S "$tmp/src" -B "$tmp/build" \
        "${consumer_cmake_args[@]}" -DCMAKE_PREFIX_PATH="$prefix"
    run "$tmp/build.log" timeout 300 "$cmake" --build "$tmp/build"
    status=0
    timeout 30 "$tmp/build/imaps_client" >"$tmp/run.log" 2>&1 || status=$?
    [ "$status" -eq 64 ] && grep -q '^usage: imaps_client HOST PORT' "$tmp/run.log" \
        || { cat "$tmp/run.log" >&2; fail "imaps_client without arguments did not print its usage (status $status)"; }
    ;;
deb)
    # `cpack -G DEB` as doc/packaging.md says: two packages with the right names, contents and
    # dependencies, that dpkg would install together, and that a consumer builds against.
    for tool in cpack dpkg dpkg-deb; do
        command -v "$tool" >/dev/null || fail "the tool '$tool' is missing"
    done
    cpack_command=$(dirname "$cmake")/cpack
    [ -x "$cpack_command" ] || cpack_command=cpack
    run "$tmp/cpack.log" timeout 200 "$cpack_command" --config "$build_dir/CPackConfig.cmake" \
        -G DEB -B "$tmp/debs"
    runtime_deb=$(find "$tmp/debs" -maxdepth 1 -name 'libsecuresocket0_*.deb' | head -n 1)
    dev_deb=$(find "$tmp/debs" -maxdepth 1 -name 'libsecuresocket-dev_*.deb' | head -n 1)
    [ -n "$runtime_deb" ] && [ -n "$dev_deb" ] \
        || fail "cpack did not make libsecuresocket0 and libsecuresocket-dev: $(ls "$tmp/debs")"
    runtime_depends=$(dpkg-deb -f "$runtime_deb" Depends)
    for dependency in libqt6core6 libqt6network6 libssl3; do
        [[ "$runtime_depends" == *"$dependency"* ]] \
            || fail "libsecuresocket0 does not depend on $dependency (Depends: $runtime_depends)"
    done
    version=$(dpkg-deb -f "$runtime_deb" Version)
    dev_depends=$(dpkg-deb -f "$dev_deb" Depends)
    for dependency in "libsecuresocket0 (= $version)" qt6-base-dev libssl-dev; do
        [[ "$dev_depends" == *"$dependency"* ]] \
            || fail "libsecuresocket-dev does not depend on $dependency (Depends: $dev_depends)"
    done
    runtime_files=$(dpkg-deb -c "$runtime_deb")
    dev_files=$(dpkg-deb -c "$dev_deb")
    [[ "$runtime_files" == *"/libSecureSocket.so.0"* ]] || fail "libsecuresocket0 lacks libSecureSocket.so.0"
    [[ "$runtime_files" != *"/include/"* ]] || fail "libsecuresocket0 holds headers"
    for file in include/SecureSocket/SecureSocket include/SecureSocket/securesocket_version.h \
        /libSecureSocket.so /SecureSocketConfig.cmake /SecureSocket.pc; do
        [[ "$dev_files" == *"$file"* ]] || fail "libsecuresocket-dev lacks $file"
    done
    if [ "$(id -u)" -eq 0 ]; then
        run "$tmp/dpkg.log" dpkg --dry-run -i "$runtime_deb" "$dev_deb"
    else
        echo "package_deb: not root, so dpkg --dry-run -i was not tried" >&2
    fi
    for deb in "$runtime_deb" "$dev_deb"; do dpkg-deb -x "$deb" "$tmp/root"; done
    configure_consumer "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/root/usr"
    run "$tmp/build.log" timeout 300 "$cmake" --build "$tmp/build"
    library=$(find "$tmp/root/usr" -name 'libSecureSocket.so.0' | head -n 1)
    LD_LIBRARY_PATH="$(dirname "$library")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        run_consumer "$tmp/build/consumer"
    ;;
minimum_versions)
    # A Qt that says it is 6.2.4, and OpenSSL headers that say 1.1.1.
    mkdir -p "$tmp/qt/lib/cmake/Qt6" "$tmp/ssl/include/openssl" "$tmp/ssl/lib"
    echo 'set(Qt6_FOUND TRUE)' >"$tmp/qt/lib/cmake/Qt6/Qt6Config.cmake"
    printf 'set(PACKAGE_VERSION 6.2.4)\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n' \
        >"$tmp/qt/lib/cmake/Qt6/Qt6ConfigVersion.cmake"
    echo '# define OPENSSL_VERSION_NUMBER 0x1010117fL' >"$tmp/ssl/include/openssl/opensslv.h"
    touch "$tmp/ssl/lib/libssl.so" "$tmp/ssl/lib/libcrypto.so"
    base=(-G "$generator" -DCMAKE_MAKE_PROGRAM="$make_program" -DCMAKE_CXX_COMPILER="$cxx"
        -DSECURESOCKET_BUILD_TESTS=OFF -DSECURESOCKET_BUILD_EXAMPLES=OFF
        -DSECURESOCKET_BUILD_BENCH=OFF)
    # expect_refusal NAME SOURCE_DIR SENTENCE ARGS...: the configure of SOURCE_DIR must fail and
    # say SENTENCE.
    expect_refusal() {
        local name=$1 source=$2 sentence=$3
        shift 3
        local out status=0
        out=$(timeout 120 "$cmake" -S "$source" -B "$tmp/$name" "${base[@]}" "$@" 2>&1) || status=$?
        [ "$status" -ne 0 ] || fail "the configure with $name succeeded"
        # CMake wraps long messages: compare with the whitespace squeezed.
        if ! tr -s ' \n' '  ' <<<"$out" | grep -qF "$sentence"; then
            echo "$out" >&2
            fail "the configure with $name did not say: $sentence"
        fi
    }
    expect_refusal "Qt 6.2.4" "$source_dir" \
        "SecureSocket needs Qt 6.4 or newer (it uses QTcpServer::pendingConnectionAvailable()), but found Qt 6.2.4" \
        -DQt6_DIR="$tmp/qt/lib/cmake/Qt6"
    expect_refusal "OpenSSL 1.1.1" "$source_dir" \
        "SecureSocket needs OpenSSL 3.0 or newer, but found OpenSSL 1.1.1" \
        -DQt6_DIR="$qt6_dir" -DOPENSSL_INCLUDE_DIR="$tmp/ssl/include" \
        -DOPENSSL_SSL_LIBRARY="$tmp/ssl/lib/libssl.so" -DOPENSSL_CRYPTO_LIBRARY="$tmp/ssl/lib/libcrypto.so"
    # The installed SecureSocketConfig.cmake says the same to a consumer.
    expect_refusal "an installed SecureSocket and Qt 6.2.4" "$here/consumer" \
        "SecureSocket needs Qt 6.4 or newer, but found Qt 6.2.4" \
        -DCMAKE_PREFIX_PATH="$prefix" -DQt6_DIR="$tmp/qt/lib/cmake/Qt6"
    ;;
*)
    fail "unknown step '$step'"
    ;;
esac
echo "package_$step: passed"
