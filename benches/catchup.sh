#!/usr/bin/env bash
# A catch-up at national scale, end to end: 100 000 synthetic partnerships
# whose first tick enqueues about 22 000 reminders (tracking from
# 2026-10-20), rendered, stored and delivered to Postfix's smtp-sink as it
# comes (no server tuning). Prints the mails sent, the seconds and the peak
# RSS of the one `iopd tick`.
#
# Run: cargo build --release --locked && benches/catchup.sh
# (needs Debian's postfix for smtp-sink, and /usr/bin/time; IOPD_BIN and
# IOPD_BENCH_PARTNERSHIPS override the binary and the size).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${IOPD_BIN:-target/release/iopd}"
n="${IOPD_BENCH_PARTNERSHIPS:-100000}"
dir="$(mktemp -d)"
trap 'kill "${sink:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
chmod 755 "$dir"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
smtp-sink -u nobody "127.0.0.1:$port" 1000 &
sink=$!

# The benchmarks' configuration (benches/common.rs): the example with 50
# committees of ten meetings a year.
python3 - "$dir/bench.toml" <<'PY'
import sys
toml = open("config/iopd.example.toml", encoding="utf-8").read()
toml = toml.replace('# tracking_start = "2026-12-01"', 'tracking_start = "2026-10-20"')
meetings = ", ".join(f'"{y}-{m:02}-14"' for y in range(2015, 2031) for m in [1,2,3,4,5,6,9,10,11,12])
for i in range(48):
    toml += f'\n[committees.c{i:02}]\nname = "Nämnd {i}"\nsecretary_email = "sekr{i}@example.org"\nsubmission_days = 21\nmeetings = [{meetings}]\n'
open(sys.argv[1], "w", encoding="utf-8").write(toml)
PY

export IOPD__DATABASE__URL="sqlite://$dir/catchup.db"
export RUST_LOG=warn
"$bin" --config "$dir/bench.toml" synth --partnerships "$n" --now 2026-11-01 >/dev/null

export IOPD__MAIL__TRANSPORT=smtp IOPD__MAIL__SMTP__HOST=127.0.0.1 \
    IOPD__MAIL__SMTP__PORT="$port" IOPD__MAIL__SMTP__TLS=none
start=$(date +%s.%N)
out="$(/usr/bin/time -f '%M' "$bin" --config "$dir/bench.toml" tick --now 2026-11-02T08:05 2>"$dir/time")"
end=$(date +%s.%N)
echo "$out"
echo "catch-up: $(python3 -c "print(f'{$end - $start:.1f}')") s end to end, peak RSS $(( $(tail -1 "$dir/time") / 1024 )) MB, $n partnerships"
