# hf_add_test(NAME <name> LABEL <unit|integration|e2e|faults> SOURCES <...> LIBS <...>)
#
# One GoogleTest executable, its cases registered with CTest one by one under
# the given label, so `ctest -L unit` picks exactly the fast tests. Integration
# and e2e cases share the control plane CTest starts once (tests/CMakeLists.txt)
# and are registered only with HF_CLUSTER_TESTS. The `unit_tests` target
# (tests/CMakeLists.txt) builds every unit executable, for sanitizer runs.
include(GoogleTest)

function(hf_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL MATCHES "^(unit|integration|e2e|faults)$")
    message(FATAL_ERROR "hf_add_test(${T_NAME}): LABEL must be unit, integration, e2e or faults")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  set(extra)
  if(NOT T_LABEL STREQUAL "unit")
    if(NOT HF_CLUSTER_TESTS)
      return()
    endif()
    list(APPEND T_LIBS hf_testing)
    set(extra FIXTURES_REQUIRED local_cluster ENVIRONMENT HF_CLUSTER_DIR=${HF_CLUSTER_DIR} RESOURCE_LOCK local_cluster)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  if(T_LABEL STREQUAL "unit")
    set_property(GLOBAL APPEND PROPERTY HF_UNIT_TEST_TARGETS ${T_NAME})
  endif()
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  # Tests reach their helpers under tests/ from the repository root.
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  gtest_discover_tests(${T_NAME}
    DISCOVERY_MODE PRE_TEST
    TEST_PREFIX "${T_NAME}."
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ${extra})
endfunction()
