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

# The team's shared folder (design docs, the official Noark 5 XSDs, test vectors): beside the
# checkout as ../shared, else where the development machines keep it. Tests get it as
# SMARTBY_SHARED_DIR.
if(EXISTS "${PROJECT_SOURCE_DIR}/../shared")
  get_filename_component(default_shared "${PROJECT_SOURCE_DIR}/../shared" ABSOLUTE)
else()
  set(default_shared "/work/shared")
endif()
set(SMARTBY_SHARED_DIR "${default_shared}" CACHE PATH "the team's shared folder (../shared)")

# smartby_test(NAME SOURCES ... DEPS ... LABELS unit|integration|e2e): one gtest binary, one ctest
# entry (per binary, not per case: integration suites start their service once).
function(smartby_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/proto)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600
    ENVIRONMENT "SMARTBY_BUILD_DIR=${PROJECT_BINARY_DIR};SMARTBY_SOURCE_DIR=${PROJECT_SOURCE_DIR};SMARTBY_SHARED_DIR=${SMARTBY_SHARED_DIR}")
endfunction()

# smartby_proto_library(NAME ROOT dir): C++ messages and gRPC stubs for every .proto under ROOT
# (imports resolve against ROOT and proto/), as one static library.
function(smartby_proto_library name)
  cmake_parse_arguments(ARG "" "ROOT" "DEPS" ${ARGN})
  file(GLOB_RECURSE protos RELATIVE ${ARG_ROOT} CONFIGURE_DEPENDS ${ARG_ROOT}/*.proto)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR})
  set(generated)
  foreach(proto ${protos})
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(outputs ${out_dir}/${base}.pb.cc ${out_dir}/${base}.pb.h
                ${out_dir}/${base}.grpc.pb.cc ${out_dir}/${base}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND protobuf::protoc
        --proto_path=${ARG_ROOT} --proto_path=${PROJECT_SOURCE_DIR}/proto
        --cpp_out=${out_dir} --grpc_out=${out_dir}
        --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
        ${proto}
      DEPENDS ${ARG_ROOT}/${proto} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${proto}")
    list(APPEND generated ${outputs})
  endforeach()
  add_library(${name} STATIC ${generated})
  # Generated code is not ours to warn about.
  target_include_directories(${name} SYSTEM PUBLIC ${out_dir})
  target_compile_options(${name} PRIVATE -w)
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++ ${ARG_DEPS})
endfunction()
