"""The benchmark harness's pure helpers: wrk output, /proc CPU accounting, stream framing."""

from __future__ import annotations

import pytest

from benchmarks.cpu import (
    ProcStat,
    box_shares,
    busy_ticks,
    parse_proc_stat,
    tree_ticks,
    us_per_request,
)
from benchmarks.gateway import parse_ready_line
from benchmarks.httpwire import decode_chunked, response_body
from benchmarks.nginx import nginx_string
from benchmarks.payloads import MAX_RETURN_TEXT, mock_answers
from benchmarks.phase_instructions import function_table, row_total
from benchmarks.report import summarise, target_checks
from benchmarks.stats import percentile
from benchmarks.streams import ends_with_terminal
from benchmarks.token_client import hist_percentile
from benchmarks.token_streams import later_events
from benchmarks.wrk import parse_wrk_output, time_to_ms

WRK_CLEAN = """\
Running 8s test @ http://127.0.0.1:40123/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.33ms  726.03us   8.32ms   84.57%
    Req/Sec    12.27k     2.70k   16.55k    75.00%
  Latency Distribution
     50%  845.00us
     75%    1.53ms
     90%    2.07ms
     99%    4.30ms
  196264 requests in 8.00s, 35.73MB read
Requests/sec:  24532.61
Transfer/sec:      4.47MB
"""

WRK_WITH_ERRORS = """\
Running 1m test @ http://127.0.0.1:40123/v1/chat/completions
  2 threads and 256 connections
  Latency Distribution
     50%   12.50ms
     75%   40.00ms
     90%  300.00ms
     99%    1.20s
  9000 requests in 1.00m, 2.00MB read
  Socket errors: connect 3, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:    150.00
Transfer/sec:     34.13KB
"""


def test_wrk_parser_reads_rate_totals_and_percentiles() -> None:
    result = parse_wrk_output(WRK_CLEAN)
    assert (result.requests, result.duration_s, result.rps) == (196264, 8.0, 24532.61)
    assert result.p50_ms == pytest.approx(0.845)
    assert result.p99_ms == pytest.approx(4.30)
    assert result.errors == 0


def test_wrk_parser_counts_socket_errors_and_non_2xx_answers() -> None:
    result = parse_wrk_output(WRK_WITH_ERRORS)
    assert (result.non_2xx, result.socket_errors, result.errors) == (17, 10, 27)
    assert result.duration_s == 60.0
    assert result.p99_ms == pytest.approx(1200.0)


def test_wrk_parser_rejects_output_without_latency_distribution() -> None:
    without = "\n".join(line for line in WRK_CLEAN.splitlines() if "%  " not in line)
    with pytest.raises(ValueError, match="latency distribution"):
        parse_wrk_output(without)


@pytest.mark.parametrize(("text", "ms"), [("245.12us", 0.24512), ("4.30ms", 4.3),
                                          ("1.02s", 1020.0), ("2.00m", 120_000.0)])
def test_wrk_durations_convert_to_milliseconds(text: str, ms: float) -> None:
    assert time_to_ms(text) == pytest.approx(ms)


def test_proc_stat_parser_survives_spaces_and_parens_in_the_command_name() -> None:
    line = ("4242 (ferro gate (w1)) S 4200 4200 4200 0 -1 4194560 1 0 0 0 "
            "150 37 0 0 20 0 3 0 100 0 0")
    assert parse_proc_stat(line) == ProcStat(pid=4242, ppid=4200, ticks=187)


def test_tree_ticks_sums_the_root_and_all_descendants_only() -> None:
    stats = [ProcStat(10, 1, 5), ProcStat(11, 10, 7), ProcStat(12, 11, 3),
             ProcStat(20, 1, 1000), ProcStat(21, 20, 1000)]
    assert tree_ticks(stats, 10) == 15
    assert tree_ticks(stats, 99) == 0


def test_cpu_per_request_is_tick_delta_in_microseconds_over_requests() -> None:
    # 50 ticks at 100 Hz = 0.5 s of CPU over 10,000 requests = 50 us each
    assert us_per_request(1000, 1050, 10_000, clk_tck=100) == pytest.approx(50.0)
    assert us_per_request(1000, 1050, 0, clk_tck=100) is None


def test_box_busy_ticks_exclude_idle_and_iowait() -> None:
    line = "cpu  100 5 50 800 40 3 2 0 0 0"
    assert busy_ticks(line) == (160, 1000)


def test_box_share_of_others_is_busy_time_not_spent_by_the_harness() -> None:
    busy, others = box_shares((1000, 10_000), (1900, 11_000), own_ticks=600)
    assert busy == pytest.approx(90.0)
    assert others == pytest.approx(30.0)


def test_chunked_body_is_decoded_and_truncation_detected() -> None:
    assert decode_chunked(b"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n") == b"hello world"
    with pytest.raises(ValueError):
        decode_chunked(b"5\r\nhello\r\n6\r\n wo")


def test_response_body_reports_status_and_decoded_stream() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"f\r\ndata: {\"a\":1}\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    status, body = response_body(raw)
    assert status == 200 and ends_with_terminal(body)


def test_a_stream_cut_before_its_terminal_event_is_detected() -> None:
    assert not ends_with_terminal(b'data: {"a":1}\n\ndata: {"b":2}\n\n')
    assert ends_with_terminal(b"event: message_stop\ndata: {}\n\n", b"event: message_stop")


def test_ready_line_gives_public_and_admin_ports() -> None:
    out = ('starting\nFERROGATE_READY {"public": ["127.0.0.1:41001"], '
           '"admin": "127.0.0.1:41002", "pid": 77}\n')
    ports = parse_ready_line(out)
    assert ports is not None and (ports.public, ports.admin, ports.pid) == (41001, 41002, 77)
    assert parse_ready_line("starting\n") is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) is None


def test_nginx_strings_escape_newlines_and_refuse_variables() -> None:
    assert nginx_string("data: x\n\n") == "'data: x\\n\\n'"
    with pytest.raises(ValueError):
        nginx_string("costs $5")


def test_mock_streams_end_with_their_terminal_events() -> None:
    answers = mock_answers()
    assert ends_with_terminal(answers["openai_sse"].encode())
    anthropic = answers["anthropic_sse"]
    names = [line[len("event: "):] for line in anthropic.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(len(text.encode()) <= MAX_RETURN_TEXT for text in answers.values())


def test_gateway_cpu_target_is_also_checked_as_a_multiple_of_nginx_cpu() -> None:
    summary = {
        ("chat", 32, "ferrogate"): {"cpu_us_per_req": 100.0},
        ("chat", 32, "nginx"): {"cpu_us_per_req": 40.0},
    }
    checks = target_checks(summary, {})
    assert "- [MISS] AI chat c32 gateway CPU us/req: 100.0 (target <= 60)" in checks
    assert any(c.startswith("- [PASS] AI chat c32 gateway CPU / nginx CPU (normalised): 2.50") for c in checks)


def _run(scenario: str, target: str, rep: int, rps: float, cpu: float) -> dict[str, object]:
    return {"suite": "ai", "scenario": scenario, "connections": 32, "target": target, "rep": rep,
            "rps": rps, "errors": 0, "cpu_us_per_req": cpu, "p50_ms": 1.0, "p99_ms": 2.0}


def test_a_ratio_between_two_rows_is_the_median_of_each_reps_ratio() -> None:
    # Each rep's two runs are run one after the other, so a box that drifts between reps moves
    # both: per rep 0.95, 1.0, 0.875 (median 0.95), where the two medians' ratio is 0.875.
    records = []
    for rep, (plain, governed) in enumerate(((2000, 1900), (1000, 1000), (1600, 1400)), start=1):
        records.append(_run("chat_ungoverned", "ferrogate", rep, plain, 1e5 / plain))
        records.append(_run("chat_governed", "ferrogate", rep, governed, 1e5 / plain + (4, 0, 7.5)[rep - 1]))
    checks = target_checks(summarise(records), {})
    assert "- [PASS] AI chat c32 governed / governance off (req/s): 0.950 (target >= 0.9)" in checks
    assert "- [PASS] AI chat c32 governance gateway CPU us/req added: 4.0 (target <= 10)" in checks


_ANNOTATED = """--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
1,500,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                  file:function
--------------------------------------------------------------------------------
900,000 (60.00%)  /b/__native_hotpath.c:CPyDef_parse___parse [/b/hotpath.so]
400,000 (26.67%)  /b/__native_hotpath.c:CPyDef_parse___parse'2 [/b/hotpath.so]
 12,345 ( 0.82%)  ???:Encoder_encode [/v/_core.so]

--------------------------------------------------------------------------------
-- Auto-annotated source: /b/__native_hotpath.c
--------------------------------------------------------------------------------
77,777 ( 5.00%)  CPyDef_parse___parse(...)
"""


def test_the_function_table_is_read_up_to_its_end_and_no_further() -> None:
    assert function_table(_ANNOTATED) == {
        "/b/__native_hotpath.c:CPyDef_parse___parse [/b/hotpath.so]": 900_000,
        "/b/__native_hotpath.c:CPyDef_parse___parse'2 [/b/hotpath.so]": 400_000,
        "???:Encoder_encode [/v/_core.so]": 12_345,
    }


def test_a_phase_row_is_its_largest_count_not_its_recursions_added() -> None:
    counts = function_table(_ANNOTATED)
    assert row_total(counts, r"CPyDef_parse___parse") == 900_000
    assert row_total(counts, r"CPyDef_select___select \[") == 0


def test_later_events_leave_out_each_streams_first_and_nothing_else() -> None:
    every = {1: 90, 5: 8, 10_200: 2}  # keys: 10 us buckets below 10_000 (100 ms), then 1 ms
    first = {1: 1, 10_200: 2}
    later = later_events(every, first)
    assert later == {1: 89, 5: 8}
    assert hist_percentile(every, 99) == 200.5
    assert hist_percentile(later, 99) == 0.055
