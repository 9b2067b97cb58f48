# Third-party dependencies: Debian packages only.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
pkg_check_modules(LIBCURL IMPORTED_TARGET libcurl)
pkg_check_modules(OPENSSL IMPORTED_TARGET openssl)

# llhttp 8.1 from Debian's node-llhttp: compiled in as a private static library, warnings off.
set(LLHTTP_SRC_DIR /usr/share/llhttp)
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp)
if(NOT EXISTS ${LLHTTP_SRC_DIR}/llhttp.c OR NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found: apt-get install node-llhttp (or run `make deps`)")
endif()
add_library(llhttp STATIC ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c ${LLHTTP_SRC_DIR}/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_options(llhttp PRIVATE -w)
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)

# OpenSSL (TLS in common/http_server, SHA-256 in server and agent) and libacl (agent) come from
# Debian's static archives: the linker copies in only the objects cutover calls, so a role that
# never uses one (the supervisor, the proxy, every CLI command) does not map a whole shared
# library at exec and pay its relocations, page faults and RSS. libsqlite3, libarchive and
# libcurl are loaded with dlopen() by their only users (server/store.c, agent/bundle.c,
# common/http_fetch.c) instead: each has one user and pulls in more libraries (libm; libxml2,
# ICU, libstdc++...; GnuTLS, Kerberos...) that Debian ships shared only or that every other
# role would map for nothing. -DCUTOVER_STATIC_LIBS=OFF links OpenSSL and libacl shared again.
option(CUTOVER_STATIC_LIBS "link OpenSSL and libacl from their static archives" ON)
if(CUTOVER_STATIC_LIBS)
  find_library(SSL_STATIC_LIB NAMES libssl.a REQUIRED)
  find_library(CRYPTO_STATIC_LIB NAMES libcrypto.a REQUIRED)
  find_library(ACL_STATIC_LIB NAMES libacl.a REQUIRED)
  add_library(Static::OPENSSL INTERFACE IMPORTED)
  target_include_directories(Static::OPENSSL SYSTEM INTERFACE ${OPENSSL_INCLUDE_DIRS})
  target_link_libraries(Static::OPENSSL INTERFACE ${SSL_STATIC_LIB} ${CRYPTO_STATIC_LIB}
                        Threads::Threads ${CMAKE_DL_LIBS})
  add_library(Static::ACL INTERFACE IMPORTED)
  target_link_libraries(Static::ACL INTERFACE ${ACL_STATIC_LIB})
else()
  add_library(Static::OPENSSL INTERFACE IMPORTED)
  target_link_libraries(Static::OPENSSL INTERFACE PkgConfig::OPENSSL)
  add_library(Static::ACL INTERFACE IMPORTED)
  target_link_libraries(Static::ACL INTERFACE acl)
endif()
# Headers only: the libraries themselves are dlopened (see above).
add_library(Headers::LIBARCHIVE INTERFACE IMPORTED)
target_include_directories(Headers::LIBARCHIVE SYSTEM INTERFACE ${LIBARCHIVE_INCLUDE_DIRS})
add_library(Headers::SQLITE INTERFACE IMPORTED)
target_include_directories(Headers::SQLITE SYSTEM INTERFACE ${SQLITE_INCLUDE_DIRS})
