# Build options and flag logic; the CMakeLists.txt files only define targets.
option(CUTOVER_WERROR "treat warnings as errors" ON)
option(CUTOVER_HARDEN "fortify, stack protector, PIE, full RELRO" OFF)
option(CUTOVER_FUZZ "build libFuzzer targets (clang)" OFF)
option(CUTOVER_COVERAGE "build with --coverage" OFF)
set(CUTOVER_SANITIZE "" CACHE STRING "comma-separated -fsanitize= list")

set(CMAKE_C_STANDARD 17)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
add_compile_definitions(_GNU_SOURCE)

# Warnings for our own code; third-party sources (llhttp) do not get these.
set(CUTOVER_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla -Wimplicit-fallthrough -Wundef)
if(CUTOVER_WERROR)
  list(APPEND CUTOVER_WARNINGS -Werror)
endif()

if(CUTOVER_SANITIZE)
  add_compile_options(-fsanitize=${CUTOVER_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CUTOVER_SANITIZE})
endif()
if(CUTOVER_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(CUTOVER_COVERAGE)
  add_compile_options(--coverage)
  add_link_options(--coverage)
endif()
if(CUTOVER_HARDEN)
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE)
  add_link_options(-pie -Wl,-z,relro,-z,now)
endif()

# cutover_component(NAME SOURCES... DEPS ...): a static library for one src/ directory.
function(cutover_library name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${L_SOURCES})
  target_compile_options(${name} PRIVATE ${CUTOVER_WARNINGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${L_DEPS})
endfunction()

# cutover_unit_test(NAME SOURCE DEPS ...): a cmocka test registered with label "unit".
function(cutover_unit_test name source)
  add_executable(${name} ${source})
  target_compile_options(${name} PRIVATE ${CUTOVER_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARGN} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 60)
endfunction()

# Link only the shared libraries something really calls (a role's unused library costs every
# process its mapping), and pack relative relocations (DT_RELR, glibc ≥ 2.36): the statically
# linked libraries' pointer tables then relocate from a few KiB of bitmaps instead of
# half a MiB of RELA entries read at every exec.
include(CheckLinkerFlag)
add_link_options(LINKER:--as-needed)
check_linker_flag(C "LINKER:-z,pack-relative-relocs" CUTOVER_HAVE_RELR)
if(CUTOVER_HAVE_RELR)
  add_link_options(LINKER:-z,pack-relative-relocs)
endif()
