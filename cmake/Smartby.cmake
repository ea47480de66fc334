# One helper per kind of target, so every service's CMakeLists.txt reads the same.

# smartby_library(NAME SOURCES ... DEPS ...): a static library rooted at the repository top,
# so includes read "services/runtime/status.h".
function(smartby_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/proto)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# smartby_service(NAME catalogue SOURCES ... DEPS ... TESTS ...): the service library
# smartby_<name>_lib (everything but main.cc), the binary smartby-<name>, and one unit-test
# binary from TESTS, registered with ctest under the label `unit`.
function(smartby_service name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;TESTS" ${ARGN})
  smartby_library(smartby_${name}_lib SOURCES ${ARG_SOURCES} DEPS smartby_runtime ${ARG_DEPS})
  add_executable(smartby-${name} main.cc)
  target_link_libraries(smartby-${name} PRIVATE smartby_${name}_lib)
  if(ARG_TESTS)
    smartby_test(${name}_unit_test SOURCES ${ARG_TESTS} DEPS smartby_${name}_lib LABELS unit)
  endif()
endfunction()

# smartby_test(NAME SOURCES ... DEPS ... LABELS unit|integration|e2e): one gtest binary, one ctest
# entry (per binary, not per case: integration suites start their service once).
function(smartby_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/proto)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600
    ENVIRONMENT "SMARTBY_BUILD_DIR=${PROJECT_BINARY_DIR};SMARTBY_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
