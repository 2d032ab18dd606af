# cli_test.cmake — checks the contract of synod-lincheck (DESIGN §7): the last line of its output is
# {"verdict":...,"operations":N,"seconds":S}, and the exit status is 0 / 1 / 2.
# Run by ctest: cmake -DPROGRAM=... -DDATA=<test/data> -DWORK=<scratch dir> -P cli_test.cmake
cmake_minimum_required(VERSION 3.25)

# Runs the program on ARGN; checks its exit status and that its last line is the verdict object.
function(expect_verdict expected_status expected_verdict)
  execute_process(COMMAND ${PROGRAM} ${ARGN}
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  string(STRIP "${output}" output)
  string(REGEX REPLACE ".*\n" "" last_line "${output}")
  if(NOT status EQUAL expected_status)
    message(FATAL_ERROR "synod-lincheck ${ARGN}: exit status ${status}, expected ${expected_status}\n${output}\n${errors}")
  endif()
  if(NOT last_line MATCHES "^{\"verdict\":\"${expected_verdict}\",\"operations\":[0-9]+,\"seconds\":[0-9]+\\.[0-9]+,\"path\":\"(unique-values|search|mixed|none)\"}$")
    message(FATAL_ERROR "synod-lincheck ${ARGN}: last line is\n${last_line}\nexpected verdict ${expected_verdict}")
  endif()
  string(JSON verdict GET "${last_line}" verdict)
  if(NOT verdict STREQUAL expected_verdict)
    message(FATAL_ERROR "synod-lincheck ${ARGN}: verdict ${verdict}, expected ${expected_verdict}")
  endif()
  set(last_errors "${errors}" PARENT_SCOPE)
  set(last_line "${last_line}" PARENT_SCOPE)
endfunction()

expect_verdict(0 linearizable ${DATA}/jepsen-etcd/etcd_002.log)
if(NOT last_line MATCHES "\"operations\":[1-9]")
  message(FATAL_ERROR "a history of many operations reported: ${last_line}")
endif()
expect_verdict(1 not-linearizable ${DATA}/jepsen-etcd/etcd_000.log)
expect_verdict(0 linearizable ${DATA}/kv-append/c10-ok.txt)
expect_verdict(1 not-linearizable --format edn --model kv ${DATA}/kv-append/c10-bad.txt)

# Synod's own format, written here so the test needs nothing else.
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/lock-bad.jsonl
  "{\"process\":0,\"type\":\"invoke\",\"f\":\"acquire\",\"key\":\"L\",\"time\":10}\n"
  "{\"process\":0,\"type\":\"ok\",\"f\":\"acquire\",\"key\":\"L\",\"value\":7,\"time\":20}\n"
  "{\"process\":1,\"type\":\"invoke\",\"f\":\"acquire\",\"key\":\"L\",\"time\":30}\n"
  "{\"process\":1,\"type\":\"ok\",\"f\":\"acquire\",\"key\":\"L\",\"value\":9,\"time\":40}\n")
expect_verdict(1 not-linearizable ${WORK}/lock-bad.jsonl)

# Bad input: exit status 2, a message on stderr, and still the verdict line.
file(WRITE ${WORK}/broken.jsonl "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\n")
expect_verdict(2 unknown ${WORK}/broken.jsonl)
if(NOT last_errors MATCHES "line 2")
  message(FATAL_ERROR "bad input without a clear message: ${last_errors}")
endif()
expect_verdict(2 unknown ${WORK}/does-not-exist.jsonl)
expect_verdict(2 unknown --model nonsense ${DATA}/jepsen-etcd/etcd_002.log)
expect_verdict(2 unknown --model lock ${DATA}/jepsen-etcd/etcd_002.log)

# The figure mode: every labelled file against its label, with the time per set.
execute_process(COMMAND ${PROGRAM} --labels ${DATA}/jepsen-etcd ${DATA}/kv-append
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
string(STRIP "${output}" output)
string(REGEX REPLACE ".*\n" "" last_line "${output}")
string(JSON files GET "${last_line}" files)
string(JSON agree GET "${last_line}" agree)
string(JSON sets LENGTH "${last_line}" sets)
if(NOT status EQUAL 0 OR NOT files EQUAL 108 OR NOT agree EQUAL 108 OR NOT sets EQUAL 2)
  message(FATAL_ERROR "synod-lincheck --labels: status ${status}, ${agree}/${files} agree\n${output}\n${errors}")
endif()
message(STATUS "${output}")
